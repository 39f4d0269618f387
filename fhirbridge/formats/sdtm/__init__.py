"""The SDTM spoke: hub records ↔ SDTM domains (DM, EX, PR, AE, QS, RS, NV, TS, SUPP--) as CSV, SAS XPORT v5,
Dataset-JSON 1.1 or Dataset-XML 1.0, with a define.xml describing what was written."""
