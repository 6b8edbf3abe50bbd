"""The local stack: moto in server mode plus a runtime that does what AWS does with ``template.yaml``.

``up()`` runs it in the foreground; ``local_stack()`` is the context manager tests and the CLI use.
"""

from devtools.local.runtime import Invocation, LocalRuntime
from devtools.local.stack import LocalStack, local_stack, up
from devtools.local.template import Template, TemplateError

__all__ = ["Invocation", "LocalRuntime", "LocalStack", "Template", "TemplateError", "local_stack", "up"]
