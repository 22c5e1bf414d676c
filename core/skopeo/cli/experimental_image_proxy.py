"""``skopeo experimental-image-proxy`` (hidden, as upstream): serve the image
proxy protocol on the socket passed with ``--sockfd``."""

from __future__ import annotations

from .app import INT, Command, Flag, Options
from .options import authfile_flag, image_flags, registry_flags, system_context

FLAGS = [
    authfile_flag(),
    *registry_flags(""),
    *image_flags(""),
    Flag("sockfd", INT, "Serve on opened socket pair (default 0/stdin)", default=0),
]


def run(opts: Options) -> int:
    from ..imageproxy.handler import Handler
    from ..imageproxy.server import open_socket, serve
    from ..policy import PolicyContext

    g = opts.globals
    # Upstream's proxy runs without --command-timeout's deadline (not in app.TIMED_COMMANDS).

    def policy_context() -> PolicyContext:
        # Initialize reports policy errors as they are, without the
        # "Error loading trust policy" other commands put in front.
        from ..policy import Policy, load

        policy = Policy.accept_anything() if g.insecure_policy else load(g.policy)
        return PolicyContext(policy, require_signed=bool(g.require_signed))

    sock = open_socket(opts.sockfd)
    serve(Handler(lambda: system_context(opts), policy_context), sock)
    return 0


COMMAND = Command(
    name="experimental-image-proxy",
    short="Interactive proxy for fetching container images (EXPERIMENTAL)",
    long="Run skopeo as a proxy, supporting HTTP requests to fetch manifests and blobs.",
    usage="experimental-image-proxy [command options] IMAGE",
    examples="skopeo experimental-image-proxy --sockfd 3",
    flags=FLAGS,
    run=run,
    hidden=True,
    exact_args=0,  # cobra.ExactArgs(0)
)
