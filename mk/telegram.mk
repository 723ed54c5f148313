# Telegram channel (docs/telegram.md). Reads TELEGRAM_TOKEN, TELEGRAM_WEBHOOK_URL,
# TELEGRAM_WEBHOOK_SECRET and optionally TELEGRAM_API_BASE_URL from the environment.

.PHONY: telegram-webhook telegram-webhook-info telegram-webhook-delete test-telegram

telegram-webhook: setup ## register the Telegram webhook with its secret token
	$(PY) scripts/telegram_webhook.py set

telegram-webhook-info: setup ## show Telegram's view of the webhook (pending updates, last error)
	$(PY) scripts/telegram_webhook.py info

telegram-webhook-delete: setup ## remove the Telegram webhook
	$(PY) scripts/telegram_webhook.py delete

test-telegram: setup train ## Telegram channel tests only (fake Bot API + a Rasa server)
	$(PY) -m pytest tests/test_telegram.py -q
