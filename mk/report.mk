# Staff report (docs/staff.md). Included by the Makefile. Reads TRACKER_STORE_URL (default
# var/tracker.db). `make report SINCE=2026-11-01 UNTIL=2026-12-01 JSON=1`; TOP=n lists n
# unanswered questions.

.PHONY: report

report: setup ## staff report for a period: SINCE=, UNTIL= (dates or ISO times), JSON=1, TOP=n
	@$(PY) scripts/report.py $(if $(SINCE),--since '$(SINCE)') $(if $(UNTIL),--until '$(UNTIL)') \
	  $(if $(JSON),--json) $(if $(TOP),--top '$(TOP)')
