"""The application's configs. This directory is the source; installed, it is the package
``hpo_app.conf`` (``pyproject.toml`` maps it), where ``hpo_app/__main__.py`` finds it."""
