# gunicorn's own settings for esimshop-web.service (the command line has the rest): its log lines
# (worker boots, timeouts, errors) as the same JSON lines as the app's. The per-request line is the
# app's own ("request", with request_id and status: esimshop/request_id.py); gunicorn's access
# log would only repeat it, so it stays off; nginx keeps its access log too.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "esimshop.logs.structured_formatter", "log_format": "json"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {
        "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": ["console"], "level": "WARNING", "propagate": False},
    },
}
