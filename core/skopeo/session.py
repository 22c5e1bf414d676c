"""A :class:`Session`: what a program that makes many calls keeps between
them (the contexts, the trust policy, registry connection pools and ping
results, bearer tokens, the credentials the providers returned, the
blob-info cache), so that repeated calls reuse connections and tokens.

    >>> from skopeo.session import Session
    >>> with Session(SystemContext(tls_verify=False), insecure_policy=True) as s:
    ...     for tag in s.list_tags("docker://localhost:5000/app").tags:
    ...         s.copy(f"docker://localhost:5000/app:{tag}", f"oci:/backup/app:{tag}")

A session is safe to share between threads (calls run concurrently; event
consumers are still called one at a time).  :meth:`Session.close` (or the
end of the ``with`` block) closes its connections and writes the blob-info
cache; calls must have returned by then.  Errors are :mod:`skopeo.errors`
types, as for the module-level functions of :mod:`skopeo.api` (docs/api.md
lists which call raises what); using a closed session raises RuntimeError.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from . import api, events
from .context import SystemContext
from .resources import Resources

if TYPE_CHECKING:
    from .copy import CopyOptions, CopyResult
    from .events import Consumer
    from .policy import Policy, PolicyContext
    from .results import ImageInfo, LoginResult, LogoutResult, TagList
    from .sync import SyncOptions, SyncResult
    from .transport import ImageReference

T = TypeVar("T")


class Session:
    """Calls that share connections, tokens, contexts and the trust policy.

    *context* is the default :class:`SystemContext` of every call (both ends
    of a copy unless the :class:`CopyOptions` given name their own).
    *policy* is the trust policy of copies: a :class:`PolicyContext`, a
    :class:`Policy`, the path of a policy.json, or None for the system's
    (read at the first copy); *insecure_policy* accepts any image instead
    (``--insecure-policy``).  *events* receives the events of every copy and
    sync (see :mod:`skopeo.events`).  *retry_times* and *retry_delay* are the
    default whole-operation retries (``--retry-times``, ``--retry-delay``).
    """

    def __init__(
        self,
        context: SystemContext | None = None,
        *,
        policy: PolicyContext | Policy | str | None = None,
        insecure_policy: bool = False,
        events: Consumer | None = None,
        retry_times: int = 0,
        retry_delay: float = 0.0,
    ) -> None:
        self.resources = Resources("session")
        self.context = self.bind(context or SystemContext())
        self.events = events
        self.retry_times = retry_times
        self.retry_delay = retry_delay
        self._policy_arg = policy
        self._insecure_policy = insecure_policy
        self._policy: PolicyContext | None = None
        self._lock = threading.Lock()
        self._events_lock = threading.Lock()

    # --- life ---------------------------------------------------------------------------
    def __enter__(self) -> Session:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close the session's connections and write what the blob-info cache
        learned (idempotent)."""
        self.resources.close()

    @property
    def closed(self) -> bool:
        return self.resources.closed

    def _check_open(self) -> None:
        if self.resources.closed:
            raise RuntimeError("the session is closed")

    def bind(self, ctx: SystemContext) -> SystemContext:
        """*ctx* as a context of this session (a copy; *ctx* itself is left
        alone), unless it already belongs to a session."""
        return ctx if ctx.resources is not None else dataclasses.replace(ctx, resources=self.resources)

    def _ctx(self, ctx: SystemContext | None) -> SystemContext:
        self._check_open()
        return self.context if ctx is None else self.bind(ctx)

    @property
    def policy(self) -> PolicyContext:
        """The trust policy copies are checked against (loaded once)."""
        with self._lock:
            if self._policy is None:
                self._policy = _policy_context(self._policy_arg, self._insecure_policy)
            return self._policy

    # --- calls --------------------------------------------------------------------------
    def parse(self, name: str) -> ImageReference:
        """See :func:`skopeo.api.parse`."""
        return api.parse(name)

    def copy(
        self,
        source: str | ImageReference,
        destination: str | ImageReference,
        options: CopyOptions | None = None,
        *,
        digestfile: str | None = None,
        retry_times: int | None = None,
        retry_delay: float | None = None,
        events: Consumer | None = None,
        **changes: Any,
    ) -> CopyResult:
        """Copy an image (see :func:`skopeo.api.copy`).  *options* default to
        the session's context at both ends; keyword *changes* set
        :class:`CopyOptions` fields (``multi_arch="all"``,
        ``remove_signatures=True``, …).  *events* receives this copy's events,
        besides the session's consumer."""
        self._check_open()
        opts = self._copy_options(options, events, changes)
        self._hold_blob_info_cache(opts.dest_ctx)
        return api.copy(source, destination, opts, self.policy, self._times(retry_times),
                        self._delay(retry_delay), digestfile)

    def sync(
        self,
        source: str,
        destination: str,
        options: SyncOptions | None = None,
        *,
        source_kind: str = "docker",
        dest_kind: str = "docker",
        events: Consumer | None = None,
        **changes: Any,
    ) -> SyncResult:
        """``skopeo sync`` (see :func:`skopeo.api.sync`): *source_kind* and
        *dest_kind* are ``--src`` and ``--dest`` when no *options* are given;
        keyword *changes* set :class:`SyncOptions` fields (``scoped=True``,
        ``keep_going=True``, ``dry_run=True``, …)."""
        from .sync import SyncOptions

        self._check_open()
        if options is None:
            options = SyncOptions(source_kind, dest_kind, retry_times=self.retry_times, retry_delay=self.retry_delay)
            copy_options = self._copy_options(None, events, {})
        else:
            copy_options = self._copy_options(options.copy, events, {})
        options = dataclasses.replace(options, copy=copy_options, **changes)
        self._hold_blob_info_cache(copy_options.dest_ctx)
        return api.sync(source, destination, options, self.policy)

    def inspect(self, name: str, *, no_tags: bool = False, digest_algorithm: str | None = None,
                context: SystemContext | None = None, retry_times: int | None = None,
                retry_delay: float | None = None) -> ImageInfo:
        """See :func:`skopeo.api.inspect`."""
        ctx = self._ctx(context)
        return self._retried(lambda: api.inspect(name, ctx, no_tags, digest_algorithm), retry_times, retry_delay)

    def inspect_raw(self, name: str, *, config: bool = False, context: SystemContext | None = None,
                    retry_times: int | None = None, retry_delay: float | None = None) -> bytes:
        """See :func:`skopeo.api.inspect_raw`."""
        ctx = self._ctx(context)
        return self._retried(lambda: api.inspect_raw(name, ctx, config), retry_times, retry_delay)

    def inspect_config(self, name: str, *, context: SystemContext | None = None,
                       retry_times: int | None = None, retry_delay: float | None = None) -> dict[str, Any]:
        """See :func:`skopeo.api.inspect_config`."""
        ctx = self._ctx(context)
        return self._retried(lambda: api.inspect_config(name, ctx), retry_times, retry_delay)

    def list_tags(self, name: str, *, context: SystemContext | None = None,
                  retry_times: int | None = None, retry_delay: float | None = None) -> TagList:
        """See :func:`skopeo.api.list_tags`."""
        ctx = self._ctx(context)
        return self._retried(lambda: api.list_tags(name, ctx), retry_times, retry_delay)

    def delete(self, name: str, *, context: SystemContext | None = None,
               retry_times: int | None = None, retry_delay: float | None = None) -> None:
        """See :func:`skopeo.api.delete`."""
        ctx = self._ctx(context)
        self._retried(lambda: api.delete(name, ctx), retry_times, retry_delay)

    def login(self, registry: str, username: str | None = None, password: str | None = None, *,
              context: SystemContext | None = None, compat_auth_file: str | None = None,
              prompt: Callable[[str, str, str], tuple[str, str]] | None = None,
              report: TextIO | None = None) -> LoginResult:
        """See :func:`skopeo.api.login`; later calls of the session use the new credentials."""
        ctx = self._ctx(context)
        try:
            return api.login(registry, username, password, ctx=ctx, compat_auth_file=compat_auth_file,
                             prompt=prompt, report=report)
        finally:
            self._forget_credentials()

    def get_login(self, registry: str, *, context: SystemContext | None = None,
                  compat_auth_file: str | None = None) -> str:
        """See :func:`skopeo.api.get_login`."""
        return api.get_login(registry, ctx=self._ctx(context), compat_auth_file=compat_auth_file)

    def logout(self, registry: str | None = None, *, all_registries: bool = False,
               context: SystemContext | None = None, compat_auth_file: str | None = None) -> LogoutResult:
        """See :func:`skopeo.api.logout`; later calls of the session no longer use the credentials."""
        ctx = self._ctx(context)
        try:
            return api.logout(registry, all_registries=all_registries, ctx=ctx, compat_auth_file=compat_auth_file)
        finally:
            self._forget_credentials()

    def _forget_credentials(self) -> None:
        """Drop what the credential providers answered (see :func:`skopeo.auth.resolve`)."""
        from .auth import SESSION_KEY

        self.resources.drop(lambda key: isinstance(key, tuple) and bool(key) and key[0] == SESSION_KEY)

    @staticmethod
    def manifest_digest(data: bytes) -> str:
        """See :func:`skopeo.api.manifest_digest`."""
        return api.manifest_digest(data)

    # --- helpers ------------------------------------------------------------------------
    def _times(self, given: int | None) -> int:
        return self.retry_times if given is None else given

    def _delay(self, given: float | None) -> float:
        return self.retry_delay if given is None else given

    def _retried(self, call: Callable[[], T], times: int | None, delay: float | None) -> T:
        from . import retry

        return retry.if_necessary(call, self._times(times), self._delay(delay))

    def _copy_options(self, options: CopyOptions | None, consumer: Consumer | None,
                      changes: dict[str, Any]) -> CopyOptions:
        from .copy import CopyOptions

        if options is None:
            options = CopyOptions(source_ctx=self.context, dest_ctx=self.context)
        options = dataclasses.replace(options, **changes)
        options.source_ctx = self.bind(options.source_ctx)
        options.dest_ctx = self.bind(options.dest_ctx)
        combined = events.fan_out(self.events, options.events, consumer)
        # One lock for every copy of every call: consumers are called one at a time.
        options.events = events.serialized(combined, self._events_lock) if combined is not None else None
        return options

    def _hold_blob_info_cache(self, ctx: SystemContext) -> None:
        """Keep the blob-info cache of *ctx* open for the session: its file
        stays open, what copies learn is written every few seconds and when
        the session closes (not after each copy)."""
        from . import blobinfocache

        cache = blobinfocache.cache_for(ctx)
        self.resources.get(("skopeo.blobinfocache", id(cache)), lambda: _OpenCache(cache))


class _OpenCache:
    """A blob-info cache held open until :meth:`close`."""

    def __init__(self, cache: Any) -> None:
        self.cache = cache
        cache.open()

    def close(self) -> None:
        self.cache.close()


def _policy_context(policy: PolicyContext | Policy | str | None, insecure: bool) -> PolicyContext:
    from .policy import Policy, PolicyContext, load

    if isinstance(policy, PolicyContext):
        return policy
    if insecure:
        return PolicyContext(Policy.accept_anything())
    if isinstance(policy, Policy):
        return PolicyContext(policy)
    return PolicyContext(load(policy))
