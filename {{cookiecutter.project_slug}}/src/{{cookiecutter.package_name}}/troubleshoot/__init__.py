"""The troubleshooting kit (docs/troubleshooting.md): OOM recovery, finders, memory and leak watch, checks, doctor.

A fork may delete the folder; CONTRIBUTING.md's deletion guide lists the few lines of ``cli/`` to change.
"""

from {{ cookiecutter.package_name }}.troubleshoot.arguments import add_troubleshooting_arguments
from {{ cookiecutter.package_name }}.troubleshoot.explain import explain_errors
from {{ cookiecutter.package_name }}.troubleshoot.leak import LeakDetector
from {{ cookiecutter.package_name }}.troubleshoot.memory import MemoryMonitor
from {{ cookiecutter.package_name }}.troubleshoot.run import fit, preflight

__all__ = ["LeakDetector", "MemoryMonitor", "add_troubleshooting_arguments", "explain_errors", "fit", "preflight"]
