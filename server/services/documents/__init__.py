"""Official documents (公文): the GB/T 9704 builder, 发文字号 sequences, and the documents themselves.

- official: the layout (版头, 标题, 主送, 正文, 附件, 落款, 页码, 版记) and fonts, as a builder;
- numbers: the 文号 per kind and year, given once per document;
- notices: the 整改通知书 with its 回执, the 立项通知 to a 归口单位, the year's grading 通报
  (the round 通报 is built in services/round_report.py, beside the round's workbook).
"""
