"""Publishing protected tables: long CSV with its structure, accessible spreadsheet, charts."""
