"""The troubleshooting kit (docs/troubleshooting.md): OOM recovery, finders, memory and leak watch, checks, doctor.

A fork may delete the folder; CONTRIBUTING.md's deletion guide lists the few lines of ``cli/`` to change.
"""

from litproj.troubleshoot.arguments import add_troubleshooting_arguments
from litproj.troubleshoot.explain import explain_errors
from litproj.troubleshoot.leak import LeakDetector
from litproj.troubleshoot.memory import MemoryMonitor
from litproj.troubleshoot.run import fit, preflight

__all__ = ["LeakDetector", "MemoryMonitor", "add_troubleshooting_arguments", "explain_errors", "fit", "preflight"]
