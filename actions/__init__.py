"""Custom actions of the Sweat Clinic Assistant (run with ``rasa run actions``).

One module per concern: ``faq`` answers questions from the knowledge file,
``escalation`` backs up the safety replies, ``settings`` and ``knowledge`` load the
clinic's files, ``risk`` and ``formatting`` are pure helpers without Rasa types.
"""
