"""Framework-free logic shared by the Rasa server, the action server and the scripts.

No module here imports Rasa or rasa-sdk: ``settings`` (every setting, read once),
``text`` (Unicode normalisation), ``language`` (English or not), ``guard`` (the turn
guard's pure decisions), ``safety`` (the spaCy risk rules), ``ports`` and ``stats``
(helpers for tests and benchmarks).
"""
