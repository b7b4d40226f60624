"""Rules of DECISIONS.md: validation, signing, ids, access. No HTTP and no SQL here."""
