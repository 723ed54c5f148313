# Reliability (issue 6): load test against the REST channel. Included by the Makefile.
# `make loadtest` starts its own servers on free ports; `make loadtest URL=http://host:5005`
# runs against a server that is already running (e.g. `make run`).

.PHONY: loadtest test-reliability

loadtest: setup train ## load test: 50 senders x 20 messages, and one flooding sender (prints a table)
	$(PY) scripts/loadtest.py $(if $(URL),--url $(URL),--start)

test-reliability: setup train ## bad input, faults, load, security and scale-out tests only
	$(PY) -m pytest tests/test_reliability.py tests/test_scale_out.py -q
