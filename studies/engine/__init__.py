"""Running a study: opening it, the one trial lifecycle, the search, the planned stages
(confirmation, effects), pruning, workers.

Imports point down: `search` and `planned` (with `confirm` and `effects` on it) train through
`lifecycle`, which trains through `runs`; `study` opens, counts and deletes; `dead` and
`storage.retry` clear and retry dead workers' trials; `ranking` is the recommendation rule
the report shares.
"""
