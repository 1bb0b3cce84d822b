"""Integrity flags in the reviewer's language: a short label and a sentence saying what it means.

The sentences are written from the constants that raise the flags (services/visits.py,
services/photos.py, the evidence policy's defaults) when they are read, so a reviewer reads
the rule as it is, and changing a threshold changes its sentence. Everything that shows a
flag (console pages, XLSX and ZIP exports, the round report) shows these words, never the code.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from server import clock, geo
from server.models import DEFAULT_MIN_INTERVIEWS, DEFAULT_MIN_PHOTOS
from server.services import photos, visits

# code -> short label for badges, filters and counts
LABELS: dict[str, str] = {
    "far_from_village": "签到不在范围内",
    "low_accuracy": "定位精度差",
    "zero_accuracy": "定位精度为零",
    "clock_skew": "手机时间不准",
    "impossible_speed": "移动速度异常",
    "capture_far": "拍摄地点偏远",
    "no_exif": "无EXIF信息",
    "exif_gps_far": "EXIF位置偏远",
    "exif_time_mismatch": "EXIF时间不符",
    "exif_edited": "疑似编辑过",
    "duplicate": "重复照片",
    "late_sync": "任务结束后补传",
    "no_fix": "拍照时无定位",
    "compressed": "照片经压缩",
    "evidence_short": "证据不足",
}


def _minutes(span: timedelta) -> str:
    return f"{span.total_seconds() / 60:g} 分钟"


def _sentences() -> dict[str, tuple[str, str]]:
    """code -> (the sentence with the numbers of one check-in or photo, the sentence without them)."""
    accuracy = geo.format_metres(visits.LOW_ACCURACY_M)
    skew = _minutes(visits.CLOCK_SKEW)
    speed = f"{visits.MAX_SPEED_KMH:g} 公里/小时"
    margin = geo.format_metres(photos.FAR_MARGIN_M)
    exif_gap = _minutes(photos.EXIF_TIME_TOLERANCE)
    no_exif = (
        "照片没有相机写入的 EXIF 信息(拍摄时间、设备型号)。小程序相机拍的照片常常没有 EXIF,"
        "但截图、转发或编辑过的图片也是这样,请结合签到和拍摄位置判断。"
    )
    late = "多因现场没有网络;请留意结束后才记录的内容。已印发的轮次通报会把它列为补传。"
    compressed = "原图超过大小上限,督查员同意后在手机上压缩再上传;压缩会降低分辨率,也可能去掉相机写入的 EXIF 信息。"
    return {
        "far_from_village": (
            "签到位置在地理围栏之外:距{place}中心约 {distance},围栏半径 {radius}。",
            "有签到位置在地理围栏之外。",
        ),
        "low_accuracy": (
            f"手机报告的定位精度为 {{accuracy}}(超过 {accuracy}),这次签到的位置不可靠。",
            f"有签到的定位精度超过 {accuracy},位置不可靠。",
        ),
        "zero_accuracy": (
            "手机报告的定位精度为 0 米。真实的卫星定位不会这样精确,常见于虚拟定位软件。",
            "有签到的定位精度为 0 米。真实的卫星定位不会这样精确,常见于虚拟定位软件。",
        ),
        "clock_skew": (
            f"手机发送数据时的时间与服务器时间相差超过 {skew},手机时钟可能被手动调整过;签到时间已按服务器时间校正。",
            f"手机发送数据时的时间与服务器时间相差超过 {skew},手机时钟可能被手动调整过;签到时间已按服务器时间校正。",
        ),
        "impossible_speed": (
            f"与该督查员时间上相邻的另一次签到相比,需要以超过 {speed}的速度移动,定位可能被篡改。",
            f"有签到与同一督查员时间上相邻的签到相比,需要以超过 {speed}的速度移动,定位可能被篡改。",
        ),
        "capture_far": (
            f"拍照时手机所在位置距{{place}}中心约 {{distance}},超出围栏(含 {margin}余量),照片可能不是在现场拍的。",
            f"有照片拍摄时手机所在位置超出围栏(含 {margin}余量),可能不是在现场拍的。",
        ),
        "no_exif": (no_exif, "有" + no_exif),
        "exif_gps_far": (
            f"照片 EXIF 中相机记录的 GPS 位置距{{place}}中心约 {{distance}},超出围栏 {margin}以上,照片可能是在别处拍的。",
            f"有照片 EXIF 中相机记录的 GPS 位置超出围栏 {margin}以上,可能是在别处拍的。",
        ),
        "exif_time_mismatch": (
            f"照片 EXIF 记录的拍摄时间与手机上报的拍摄时间相差超过 {exif_gap},可能是以前拍的旧照片。",
            f"有照片 EXIF 记录的拍摄时间与手机上报的拍摄时间相差超过 {exif_gap},可能是以前拍的旧照片。",
        ),
        "exif_edited": (
            "照片的 EXIF 显示它被编辑过:{evidence}。编辑过的照片可能被裁剪、修改或并非现场原片,请对照原图判断。",
            "有照片的 EXIF 显示被编辑过(编辑软件写入了标记,或只有文件修改时间且与手机上报的拍摄时间不符),"
            "可能被裁剪、修改或并非现场原片。",
        ),
        "duplicate": (
            "与第 {duplicate_of} 号照片重复(内容相同或几乎相同),可能是重复使用的照片。",
            "有照片与已上传的照片重复(内容相同或几乎相同),可能是重复使用的照片。",
        ),
        "late_sync": (
            "督查任务结束后 {delay} 才收到这次暗访的记录(补传)。暗访在任务结束前开始、手机时间与服务器一致," + late,
            "督查任务结束后才收到这次暗访的记录(补传)。暗访在任务结束前开始、手机时间与服务器一致," + late,
        ),
        "no_fix": (
            "拍照时手机没有及时取得定位(常见于室内或信号差),照片没有拍摄位置;请结合签到位置和照片内容判断。",
            "有照片拍摄时手机没有及时取得定位(常见于室内或信号差),没有拍摄位置;请结合签到位置和照片内容判断。",
        ),
        "compressed": (compressed, "有照片" + compressed),
        "evidence_short": (
            "证据少于本次任务的要求:{short}。暗访照常提交,已记录的内容没有丢失。",
            f"照片或入户走访少于本次任务的证据要求(默认至少 {DEFAULT_MIN_PHOTOS} 张照片、"
            f"{DEFAULT_MIN_INTERVIEWS} 户入户走访);暗访照常提交,已记录的内容没有丢失。",
        ),
    }


_DISTANCES = ("distance", "radius", "accuracy")


def edit_evidence(evidence: dict | None) -> str | None:
    """The evidence behind exif_edited (services.photos.edit_evidence) in words; None without any."""
    if not evidence:
        return None
    parts = []
    if evidence.get("software"):
        parts.append(f"编辑软件“{evidence['software']}”写入了 Software 标记")
    if evidence.get("modified_at"):
        modified = clock.china_time(datetime.fromisoformat(evidence["modified_at"]))
        parts.append(
            f"没有拍摄时间,只有文件修改时间 {modified},与手机上报的拍摄时间相差超过 "
            f"{_minutes(photos.EXIF_TIME_TOLERANCE)}"
        )
    return ";".join(parts) or None


def label(code: str) -> str:
    """The short Chinese label of a flag (unknown codes are shown as they are)."""
    return LABELS.get(code, code)


def explain(code: str, **context: Any) -> str:
    """The sentence explaining a flag on one check-in or photo (place, distance, radius, accuracy, duplicate_of);
    without context, the general sentence used for a whole visit."""
    sentences = _sentences()
    if code not in sentences:
        return f"未知标记:{code}"
    detailed, general = sentences[code]
    values = {
        k: (geo.format_metres(v) if k in _DISTANCES and isinstance(v, int | float) else v)
        for k, v in context.items()
        if v is not None
    }
    if not values:
        return general
    try:
        return detailed.format(**values)
    except KeyError:
        return general
