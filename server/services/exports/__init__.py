"""Exports for the department's own reports: XLSX workbooks and a visit's photo evidence as a ZIP.

Visit workbooks select through the visit list's scoped filters, so a file never holds a row
its reader could not open in the console. Personal data stays out: no household names, no
interview or visit notes (free text may name people), feedback phones as `phone_for` allows.
Every export is written to the audit log: files leave the system and cannot be recalled.

The modules: `workbook`, what every export shares (the Download, sheets whose cells are never
formulas, the cover sheet and audit entry, the CSV formula guard); `visits` (the visit list and
its findings), `rectifications`, `feedback` and `statistics` (the year's figures), one workbook each; `evidence_zip`, one visit's
originals and manifest streamed as a ZIP. Callers import from the module they need; other
services build their own workbooks (the round's, the annual assessment) on `workbook`.
"""
