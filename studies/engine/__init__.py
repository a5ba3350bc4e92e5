"""Running a study: opening it, the one run path, the search, confirmation, pruning, workers.

Imports point down: `search` and `confirm` train through `runs`; `study` opens and counts;
`dead` clears dead workers' trials; `ranking` is the recommendation rule the report shares.
"""
