"""A study's report, rebuilt from the storage alone: tables, figures, summary, findings."""
