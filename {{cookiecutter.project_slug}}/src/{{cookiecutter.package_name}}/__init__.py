"""{{ cookiecutter.package_name }}."""
