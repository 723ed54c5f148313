# Performance (issue 5): the assistant (A) against stock Rasa 3.6 (B), same machine, same
# run, alternating. Included by the Makefile; docs/performance.md explains the table.
# Trains what is missing (A as `make train` does; B from bench/baseline-config.yml into
# .build/bench/, about 10 minutes on 2 cores, reused while its inputs are unchanged).

.PHONY: bench bench-quick

bench: setup ## A/B benchmark against stock Rasa 3.6: trains what it needs, prints a table
	$(PY) scripts/bench.py --rasa $(RASA)

bench-quick: setup ## a short benchmark pass while developing (4 s per level, 120-message conversation)
	$(PY) scripts/bench.py --rasa $(RASA) --quick

# config.yml names addons.classifier: a change to how it stores the model needs a new one.
TRAINING_INPUTS += addons/classifier.py
