"""Copying a layer tree for the vfs driver (``drivers/copy.DirCopy``): every
file, directory, symlink, device and FIFO with its ownership, mode, extended
attributes and times; hard links stay hard links; file data is cloned (reflink)
when the filesystem can, else copied in the kernel."""

from __future__ import annotations

import errno
import os
import stat

_FICLONE = 0x40049409


def _copy_data(src: str, dst: str, mode: int) -> None:
    import fcntl

    fin = os.open(src, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    try:
        fout = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            try:
                fcntl.ioctl(fout, _FICLONE, fin)
                return
            except OSError:
                pass
            size = os.fstat(fin).st_size
            copied = 0
            while copied < size:
                try:
                    n = os.copy_file_range(fin, fout, size - copied)
                except OSError as e:
                    if e.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
                        raise
                    n = os.sendfile(fout, fin, None, size - copied)
                if n == 0:
                    break
                copied += n
        finally:
            os.close(fout)
    finally:
        os.close(fin)


def _copy_xattrs(src: str, dst: str) -> None:
    try:
        names = os.listxattr(src, follow_symlinks=False)
    except OSError:
        return
    for name in names:
        try:
            os.setxattr(dst, name, os.getxattr(src, name, follow_symlinks=False), follow_symlinks=False)
        except OSError as e:
            if e.errno not in (errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM):
                raise


def copy_tree(src: str, dst: str) -> None:
    """The contents of *src* into the existing directory *dst*."""
    linked: dict[tuple[int, int], str] = {}
    dirs: list[tuple[str, os.stat_result]] = []
    root = os.lstat(src)
    dirs.append((dst, root))
    stack = [(src, dst)]
    as_root = os.geteuid() == 0
    while stack:
        s_dir, d_dir = stack.pop()
        with os.scandir(s_dir) as it:
            for entry in it:
                s = entry.path
                d = os.path.join(d_dir, entry.name)
                st = entry.stat(follow_symlinks=False)
                mode = st.st_mode
                if stat.S_ISDIR(mode):
                    os.mkdir(d, 0o700)
                    dirs.append((d, st))
                    stack.append((s, d))
                    _copy_xattrs(s, d)
                    if as_root:
                        os.chown(d, st.st_uid, st.st_gid)
                    continue
                key = (st.st_dev, st.st_ino)
                if st.st_nlink > 1 and key in linked:
                    os.link(linked[key], d, follow_symlinks=False)
                    continue
                if stat.S_ISREG(mode):
                    _copy_data(s, d, mode)
                elif stat.S_ISLNK(mode):
                    os.symlink(os.readlink(s), d)
                elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode):
                    os.mknod(d, mode, st.st_rdev)
                else:
                    continue  # sockets are not copied
                if st.st_nlink > 1:
                    linked[key] = d
                if as_root:
                    os.chown(d, st.st_uid, st.st_gid, follow_symlinks=False)
                if not stat.S_ISLNK(mode):
                    os.chmod(d, stat.S_IMODE(mode))
                _copy_xattrs(s, d)
                os.utime(d, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
    for d, st in reversed(dirs):
        if d != dst:
            os.chmod(d, stat.S_IMODE(st.st_mode))
        os.utime(d, ns=(st.st_atime_ns, st.st_mtime_ns))
