/**
 * The one error type for user mistakes. Its message says what is wrong and how to fix it;
 * the CLI prints it as a single line and exits with `exitCode`.
 */
export class LowbitError extends Error {
  constructor(message: string, readonly exitCode: number = 2) {
    super(message);
    this.name = 'LowbitError';
  }
}

const FS_REASONS: Readonly<Record<string, string>> = {
  ENOENT: 'does not exist', ENOTDIR: 'has a file where a directory is expected', EISDIR: 'is a directory, not a file',
  EACCES: 'is not accessible (permission denied)', EPERM: 'is not accessible (operation not permitted)',
  EROFS: 'is on a read-only file system', EEXIST: 'already exists', ENOSPC: 'cannot be written: the disk is full',
  EDQUOT: 'cannot be written: the disk quota is exceeded', ENAMETOOLONG: 'has too long a name', ELOOP: 'has too many symbolic links',
  EMFILE: 'cannot be opened: too many open files', ENOTEMPTY: 'is a directory that is not empty', EBUSY: 'is busy',
  EXDEV: 'is on another file system', EINVAL: 'is not valid here',
};

/**
 * A file-system error (ENOENT, ENOTDIR, EACCES, EROFS, EISDIR, EEXIST…) as a one-line LowbitError
 * naming the path and what to do, or null for any other error.
 */
export function fileSystemError(e: unknown): LowbitError | null {
  if (e instanceof LowbitError) return e;
  const err = e as { code?: unknown; path?: unknown; dest?: unknown; syscall?: unknown } | null;
  if (err == null || typeof err !== 'object' || typeof err.code !== 'string' || !(err.code in FS_REASONS)) return null;
  // Some errors (EISDIR from read) carry no path.
  const path = typeof err.dest === 'string' && /EEXIST|ENOTEMPTY/.test(err.code) ? err.dest : typeof err.path === 'string' ? err.path : 'a file the command named';
  const reading = typeof err.syscall === 'string' && /^(open|read|stat|lstat|scandir|access)$/.test(err.syscall) && err.code === 'ENOENT';
  const fix = reading ? 'check the path' : /EACCES|EPERM|EROFS|ENOSPC|EDQUOT/.test(err.code) ? 'choose a writable location (e.g. another --out)' : 'check the path or choose another';
  return new LowbitError(`${path} ${FS_REASONS[err.code]} (${err.code}${typeof err.syscall === 'string' ? ` in ${err.syscall}` : ''}); ${fix}`);
}
