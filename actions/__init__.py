"""Custom actions of the Sweat Clinic Assistant (run with ``rasa run actions``).

Everything here runs in the action server process: ``faq`` answers questions from
the knowledge file, ``knowledge`` loads and checks it, ``formatting`` shapes replies
(pure, no Rasa types). Settings shared with the Rasa server live in ``core``.
"""
