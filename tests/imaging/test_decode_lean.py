"""What decoding one photo costs in decoder calls: libjpeg gets the whole file at once."""

import io
from pathlib import Path

from PIL import Image

from server.imaging.decode import process_photo
from tests.conftest import missing_component

PHOTOS = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "photos"


class JpegDecoderCalls:
    """The sizes of the data handed to each decode() call of Pillow's JPEG decoders made while installed."""

    def __init__(self, monkeypatch) -> None:
        self.calls: list[int] = []
        make = Image._getdecoder

        def counted(mode, decoder_name, *args, **kwargs):
            decoder = make(mode, decoder_name, *args, **kwargs)
            if decoder_name != "jpeg":
                return decoder
            calls = self.calls

            class Counted:
                def __getattr__(self, name):
                    return getattr(decoder, name)

                def decode(self, data):
                    calls.append(len(data))
                    return decoder.decode(data)

            return Counted()

        monkeypatch.setattr(Image, "_getdecoder", counted)


def test_a_phone_jpeg_is_decoded_in_one_call(monkeypatch):
    """A real 12 MP phone JPEG (2.8 MB) reaches libjpeg in one piece, not in 64 KB blocks that
    each make it suspend and leave its fast Huffman path."""
    iphone = PHOTOS / "cartridgeocr_iphone11_IMG_5809.jpg"
    if not iphone.is_file():
        missing_component(f"{iphone} not present on this machine")
    data = iphone.read_bytes()
    decoder = JpegDecoderCalls(monkeypatch)
    result = process_photo(io.BytesIO(data))
    assert (result.width, result.height) == (3024, 4032)
    assert len(decoder.calls) == 1 and decoder.calls[0] > len(data) * 0.95
