"""Rules of docs/behaviour.md: validation, signing, ids, access. No HTTP and no SQL here."""
