/*
 * uvlaunch's native launcher: the warm check and the exec, nothing else.
 *
 * A warm start reads one small record that the Python side wrote (the warm record,
 * docs/how-it-works.md), compares it with a few stat() calls, takes the shared use lock
 * of the generation it names, checks that the environment's pointer still names that
 * generation, and execs the generation's Python on the script. Every other case
 * (a subcommand, an option, a cold or changed script, anything odd) execs the Python
 * implementation, `uvlaunch-py` beside this binary, with the same arguments,
 * environment and standard streams: it decides, explains and repairs.
 *
 * Standard C and POSIX, plus flock(2), which the Python side uses for the same locks.
 * Built with -Wall -Wextra -Werror by setup.py; tests/test_build.py cross-compiles it
 * the same way for Linux, macOS (x86_64, arm64) and FreeBSD.
 */
#define _DEFAULT_SOURCE 1
#define _DARWIN_C_SOURCE 1

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __FreeBSD__
#include <sys/types.h>
#include <sys/sysctl.h>
#endif
#ifdef __APPLE__
#include <mach-o/dyld.h>
#define MTIME_NS(st) ((long long)(st).st_mtimespec.tv_sec * 1000000000LL + (st).st_mtimespec.tv_nsec)
#define CTIME_NS(st) ((long long)(st).st_ctimespec.tv_sec * 1000000000LL + (st).st_ctimespec.tv_nsec)
#else
#define MTIME_NS(st) ((long long)(st).st_mtim.tv_sec * 1000000000LL + (st).st_mtim.tv_nsec)
#define CTIME_NS(st) ((long long)(st).st_ctim.tv_sec * 1000000000LL + (st).st_ctim.tv_nsec)
#endif

extern char **environ;

/* The contract with the Python side: each constant is written once in contract.py, and
   tests/test_contract.py checks that these say the same. */
#define WARM_MAGIC "uvlaunch-warm-4"
#define STAMP_MAGIC "uvlaunch-stamp-1"
#define STAMP_END "end"
#define WARM_MAX 32768
#define MAX_NAME 60
#define MAX_GENERATION 9
#define VARIANT_DIGITS 8
#define PY_NAME "uvlaunch-py"
#define STATE_APP "uvlaunch"
#define USED_DIR "used"
#define FNV_OFFSET 0xCBF29CE484222325
#define FNV_PRIME 0x100000001B3

/* F_SCRIPTS is the first of one or more names of the script; F_END, the last field. */
enum { F_MAGIC, F_NAME, F_SCRIPT_SIG, F_LOCK_SIG, F_UV, F_UV_SIG, F_ENV, F_POINTER, F_PYTHON, F_PYTHON_SIG, F_SCRIPTS, F_END, WARM_FIELDS };

static const char *const SUBCOMMANDS[] = {"run",  "where",   "list",      "show",     "dir",     "gc",        "remove",
                                          "sync", "exec",    "upgrade",   "reinstall", "rollback", "install", "uninstall",
                                          NULL};

static const char *const HOME_DIRS[] = {"envs", "records", "index", "locks", "trash",    "tmp",
                                        "pyc",  "piped",   "warm",  "commands", NULL};

static const char *const TRUTHY[] = {"1", "true", "yes", "on", NULL};

/* Exec the Python implementation beside this binary with our own arguments. */
static void hand_over(int argc, char **argv) {
    char self[PATH_MAX], dir[PATH_MAX], target[PATH_MAX + sizeof(PY_NAME) + 1];
    int found = 0;
#ifdef __APPLE__
    char raw[PATH_MAX];
    uint32_t size = sizeof raw;
    found = _NSGetExecutablePath(raw, &size) == 0 && realpath(raw, self) != NULL;
#elif defined(__FreeBSD__)
    /* No /proc there unless mounted; argv[0] is a bare name when started from a shebang. */
    int mib[4] = {CTL_KERN, KERN_PROC, KERN_PROC_PATHNAME, -1};
    size_t size = sizeof self;
    found = sysctl(mib, 4, self, &size, NULL, 0) == 0 && size > 1;
#else
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0 && (size_t)n < sizeof self - 1) {
        self[n] = '\0';
        found = 1;
    }
#endif
    if (!found && argc > 0 && strchr(argv[0], '/') != NULL)
        found = realpath(argv[0], self) != NULL;
    if (!found) {
        fprintf(stderr, "uvlaunch: error: cannot find where this launcher is installed\n");
        exit(2);
    }
    snprintf(dir, sizeof dir, "%s", self);
    char *slash = strrchr(dir, '/');
    if (slash == NULL) slash = dir;
    *slash = '\0';
    snprintf(target, sizeof target, "%s/%s", dir, PY_NAME);
    char **args = calloc((size_t)argc + 1, sizeof *args);
    if (args == NULL) exit(2);
    args[0] = target;
    for (int i = 1; i < argc; i++) args[i] = argv[i];
    execv(target, args);
    fprintf(stderr, "uvlaunch: error: %s: cannot start uvlaunch's Python implementation: %s\n",
            target, strerror(errno));
    exit(2);
}

static int join(char *out, size_t size, const char *a, const char *b) {
    int n = snprintf(out, size, "%s%s", a, b);
    return n >= 0 && (size_t)n < size;
}

/* An absolute path that os.path.abspath leaves as it is. */
static int is_clean_absolute(const char *p) {
    size_t len = strlen(p);
    if (p[0] != '/' || len < 2 || p[len - 1] == '/') return 0;
    if (strstr(p, "//") || strstr(p, "/./") || strstr(p, "/../")) return 0;
    if ((len >= 2 && strcmp(p + len - 2, "/.") == 0) || (len >= 3 && strcmp(p + len - 3, "/..") == 0))
        return 0;
    return 1;
}

/* paths.home(): UVLAUNCH_HOME, else paths._user_data_dir_fast(); 0 when undecided. */
static int home_dir(char *out, size_t size) {
    const char *override = getenv("UVLAUNCH_HOME");
    if (override != NULL && override[0] != '\0')
        return is_clean_absolute(override) && join(out, size, override, "");
    const char *home = getenv("HOME");
    const char *xdg = getenv("XDG_DATA_HOME");
    if (home == NULL || home[0] != '/' || strlen(home) < 2 || home[strlen(home) - 1] == '/') return 0;
#ifdef __APPLE__
    if (xdg != NULL && xdg[0] != '\0') return 0;
    return snprintf(out, size, "%s/Library/Application Support/uvlaunch", home) < (int)size;
#elif defined(__linux__)
    if (xdg != NULL && xdg[0] != '\0') {
        if (xdg[0] != '/' || xdg[strlen(xdg) - 1] == '/') return 0;
        return snprintf(out, size, "%s/uvlaunch", xdg) < (int)size;
    }
    return snprintf(out, size, "%s/.local/share/uvlaunch", home) < (int)size;
#else
    (void)xdg;
    return 0;
#endif
}

static int is_safe_name(const char *name) {
    size_t len = strlen(name);
    if (len == 0 || len > MAX_NAME) return 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '-' && c != '_'))) return 0;
    }
    return 1;
}

/* pointer.is_generation(): "g" and 1 to MAX_GENERATION digits, no leading zero. */
static int is_generation(const char *s, size_t len) {
    if (len < 2 || len > MAX_GENERATION + 1 || s[0] != 'g' || s[1] == '0') return 0;
    for (size_t i = 1; i < len; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

/* Whether the pointer envs/NAME/current[-KEY] (a symlink) names `generation` (pointer.target()). */
static int is_current(const char *pointer, const char *generation) {
    char target[MAX_GENERATION + 2];
    ssize_t n = readlink(pointer, target, sizeof target);
    return n > 0 && (size_t)n == strlen(generation) && memcmp(target, generation, (size_t)n) == 0;
}

/* Whether `name` is "current" or "current-" and VARIANT_DIGITS lowercase hex digits: the
   pointer of an environment's variant for one interpreter (pointer.is_variant()). */
static int is_pointer(const char *name) {
    if (strncmp(name, "current", 7) != 0) return 0;
    const char *key = name + 7;
    if (*key == '\0') return 1;
    return key[0] == '-' && strlen(key + 1) == VARIANT_DIGITS && strspn(key + 1, "0123456789abcdef") == VARIANT_DIGITS;
}

/* stamp.file_signature(): "dev:ino:size:mtime_ns", or "-" when the file is absent. */
static void file_signature(const char *path, char *out, size_t size) {
    struct stat st;
    if (stat(path, &st) != 0)
        snprintf(out, size, "-");
    else
        snprintf(out, size, "%llu:%llu:%lld:%lld", (unsigned long long)st.st_dev,
                 (unsigned long long)st.st_ino, (long long)st.st_size, MTIME_NS(st));
}

/* Read the warm record at `path` into `buf` and split it; 0 when it is not one. The
   names of the script run from fields[F_SCRIPTS] up to fields[F_END], one after another. */
static int read_record(const char *path, char *buf, char **fields) {
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return 0;
    struct stat st;
    ssize_t total = 0, n;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() || st.st_size > WARM_MAX) {
        close(fd);
        return 0;
    }
    while (total <= WARM_MAX && (n = read(fd, buf + total, (size_t)(WARM_MAX + 1 - total))) > 0)
        total += n;
    close(fd);
    if (n < 0 || total == 0 || total > WARM_MAX || buf[total - 1] != '\0') return 0;
    int count = 0;
    for (char *p = buf; p < buf + total; p += strlen(p) + 1) {
        if (count < F_END) fields[count] = p;
        fields[F_END] = p; /* the last one so far */
        count++;
    }
    return count >= WARM_FIELDS && strcmp(fields[F_MAGIC], WARM_MAGIC) == 0 && strcmp(fields[F_END], STAMP_END) == 0;
}

/* Whether `path` is one of the names the record gives the script (warm.matches()). */
static int is_recorded_name(char **fields, const char *path) {
    for (const char *s = fields[F_SCRIPTS]; s < fields[F_END]; s += strlen(s) + 1)
        if (strcmp(s, path) == 0) return 1;
    return 0;
}

/* Whether the stamp is complete: stamp.is_complete(). */
static int stamp_complete(const char *path) {
    char head[sizeof STAMP_MAGIC], tail[5];
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return 0;
    struct stat st;
    int ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= (off_t)(sizeof head + 4) &&
             pread(fd, head, sizeof head, 0) == (ssize_t)sizeof head &&
             pread(fd, tail, sizeof tail, st.st_size - (off_t)sizeof tail) == (ssize_t)sizeof tail &&
             memcmp(head, STAMP_MAGIC, sizeof head) == 0 && memcmp(tail, "\0end", sizeof tail) == 0;
    close(fd);
    return ok;
}

/* trust.dir_problem() is None: a real directory of ours that no one else can write
   (a missing one is no problem). */
static int trusted_dir(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT;
    return S_ISDIR(st.st_mode) && st.st_uid == geteuid() && (st.st_mode & 022) == 0;
}

/* way._dir_rule(): a directory of root's or ours, not writable by others unless sticky. */
static int way_dir(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_uid == 0 || st.st_uid == geteuid()) &&
           ((st.st_mode & 022) == 0 || (st.st_mode & S_ISVTX) != 0);
}

/* Every directory on `real` (absolute, without symlinks), from / down, passes way_dir. */
static int trusted_real_way(const char *real) {
    char prefix[PATH_MAX];
    size_t len = strlen(real);
    if (len >= sizeof prefix || !way_dir("/")) return 0;
    for (size_t i = 1; i <= len; i++) {
        if (i < len && real[i] != '/') continue;
        memcpy(prefix, real, i);
        prefix[i] = '\0';
        if (!way_dir(prefix)) return 0;
    }
    return 1;
}

/* way.walk_problem(home) is None: each symlink on the way is root's or ours, the
   directory holding it passes, and so does the way the home really is. Else 0: Python
   decides, and says why. */
static int trusted_way(const char *home) {
    char prefix[PATH_MAX], real[PATH_MAX];
    struct stat st;
    size_t len = strlen(home);
    if (len >= sizeof prefix) return 0;
    for (size_t i = 1; i <= len; i++) {
        if (i < len && home[i] != '/') continue;
        memcpy(prefix, home, i);
        prefix[i] = '\0';
        if (lstat(prefix, &st) != 0) return 0;
        if (!S_ISLNK(st.st_mode)) continue;
        if (st.st_uid != 0 && st.st_uid != geteuid()) return 0;
        char *slash = strrchr(prefix, '/');
        if (slash == prefix)
            slash[1] = '\0';
        else
            *slash = '\0';
        if (realpath(prefix, real) == NULL || !trusted_real_way(real)) return 0;
    }
    return realpath(home, real) != NULL && trusted_real_way(real);
}

/* trust.home_problem() is None, and the home itself is ours and not writable by others. */
static int trusted_home(const char *home) {
    struct stat st;
    char path[PATH_MAX];
    if (stat(home, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022) != 0)
        return 0;
    if (!trusted_way(home)) return 0;
    for (const char *const *d = HOME_DIRS; *d != NULL; d++)
        if (snprintf(path, sizeof path, "%s/%s", home, *d) >= (int)sizeof path || !trusted_dir(path)) return 0;
    return 1;
}

/* usage.state_dir(): UVLAUNCH_STATE_DIR, else $XDG_STATE_HOME/uvlaunch, else
   $HOME/.local/state/uvlaunch; 0 when undecided here (Python decides). */
static int state_dir(char *out, size_t size) {
    const char *override = getenv("UVLAUNCH_STATE_DIR");
    if (override != NULL && override[0] != '\0')
        return is_clean_absolute(override) && join(out, size, override, "");
    const char *xdg = getenv("XDG_STATE_HOME");
    if (xdg != NULL && xdg[0] == '/')
        return is_clean_absolute(xdg) && snprintf(out, size, "%s/%s", xdg, STATE_APP) < (int)size;
    const char *home = getenv("HOME");
    return home != NULL && is_clean_absolute(home) &&
           snprintf(out, size, "%s/.local/state/%s", home, STATE_APP) < (int)size;
}

/* A real directory of ours that no one else can write (usage._ours). */
static int own_dir(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() && (st.st_mode & 022) == 0;
}

/* paths.home_key(): FNV-1a (64 bits) of the home's path as this launch spells it. */
static unsigned long long home_key(const char *home) {
    unsigned long long h = FNV_OFFSET;
    for (const unsigned char *p = (const unsigned char *)home; *p != '\0'; p++) h = (h ^ *p) * FNV_PRIME;
    return h;
}

/* usage.record(): now is the last use of the pointer `which` of `name` in the home
   `home`, noted in STATE/used/HOMEKEY/NAME.WHICH, each directory checked before it is
   used; best effort. 0 only when the state directory is undecided here. */
static int record_use(const char *home, const char *name, const char *which) {
    char state[PATH_MAX], used[PATH_MAX], top[PATH_MAX], path[PATH_MAX];
    if (!state_dir(state, sizeof state)) return 0;
    unsigned long long h = home_key(home);
    if (snprintf(used, sizeof used, "%s/%s", state, USED_DIR) >= (int)sizeof used ||
        snprintf(top, sizeof top, "%s/%016llx", used, h) >= (int)sizeof top ||
        snprintf(path, sizeof path, "%s/%s.%s", top, name, which) >= (int)sizeof path)
        return 1;
    if (!own_dir(top)) {
        /* usage._make_dirs: each directory made only inside one that passed the walk
           (never in another user's: sudo -E's kept HOME), and walked once made. */
        size_t len = strlen(state);
        for (size_t i = 1; i <= len; i++) {
            if (i < len && state[i] != '/') continue;
            char c = state[i];
            struct stat st;
            state[i] = '\0';
            if (lstat(state, &st) != 0) mkdir(state, 0700);
            int passes = trusted_way(state);
            state[i] = c;
            if (!passes) return 1;
        }
        if (!own_dir(state)) return 1;
        mkdir(used, 0700);
        if (!own_dir(used)) return 1;
        if (mkdir(top, 0700) == 0 && own_dir(top)) {
            char note[PATH_MAX];
            int fd = -1;
            if (join(note, sizeof note, top, "/home")) fd = open(note, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
            if (fd >= 0) {
                dprintf(fd, "%s\n", home);
                close(fd);
            }
        }
    }
    if (!own_dir(state) || !own_dir(used) || !own_dir(top)) return 1;
    int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
    if (fd < 0) return 1;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid()) futimens(fd, NULL);
    close(fd);
    return 1;
}

/* locks.Lock(shared=True).acquire(): flock the file that the path still names. */
static int take_use_lock(const char *path) {
    for (int attempt = 0; attempt < 100; attempt++) {
        int fd = open(path, O_RDWR | O_CREAT, 0600); /* inherited: the script holds it */
        if (fd < 0 && (errno == EROFS || errno == EACCES)) fd = open(path, O_RDONLY); /* a read-only home */
        if (fd < 0) return -1;
        int rc;
        while ((rc = flock(fd, LOCK_SH)) != 0 && errno == EINTR) {
        }
        struct stat held, now;
        if (rc == 0 && fstat(fd, &held) == 0 && stat(path, &now) == 0 && held.st_dev == now.st_dev &&
            held.st_ino == now.st_ino)
            return fd;
        close(fd); /* deleted or replaced while we waited: lock the file there now */
        if (rc != 0) return -1;
    }
    return -1;
}

/* "KEY=" followed by a, b and c. */
static char *env_entry(const char *key, const char *a, const char *b, const char *c) {
    size_t size = strlen(key) + strlen(a) + strlen(b) + strlen(c) + 2;
    char *s = malloc(size);
    if (s != NULL) snprintf(s, size, "%s=%s%s%s", key, a, b, c);
    return s;
}

/* Start the script if its environment is warm; returns only when it is not. */
static void try_warm(const char *invoked, char **args, int nargs) {
    static char record[WARM_MAX + 1];
    char home[PATH_MAX], path[PATH_MAX], key[PATH_MAX + 64], buf[PATH_MAX + 128];
    char pointer[PATH_MAX + 128];
    char sig[128], *f[WARM_FIELDS];
    struct stat st;

    if (!home_dir(home, sizeof home) || !trusted_home(home))
        return; /* Python refuses such a home with a message */
    if (realpath(invoked, path) == NULL || stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return;
    /* paths.warm_path(): one record per file and per view of the home (warm.py). */
    snprintf(key, sizeof key, "%s/warm/%llu-%llu-%016llx", home, (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino, home_key(home));
    if (!read_record(key, record, f) || !is_safe_name(f[F_NAME])) return;
    /* The record must name a generation of this home's own environment, and its
       interpreter: HOME/envs/NAME/gN and HOME/envs/NAME/gN/bin/python; each directory
       on the way ours and not writable by others. */
    int n = snprintf(buf, sizeof buf, "%s/envs/%s/", home, f[F_NAME]);
    if (n < 0 || (size_t)n >= sizeof buf || strncmp(buf, f[F_ENV], (size_t)n) != 0) return;
    const char *generation = f[F_ENV] + n;
    if (!is_generation(generation, strlen(generation))) return;
    if (!is_pointer(f[F_POINTER]) || !join(pointer, sizeof pointer, buf, f[F_POINTER])) return;
    buf[n - 1] = '\0'; /* HOME/envs/NAME itself: with its slash, lstat would follow a link */
    if (!trusted_dir(buf) || !trusted_dir(f[F_ENV])) return;
    snprintf(buf, sizeof buf, "%s/bin", f[F_ENV]);
    if (!trusted_dir(buf)) return;
    snprintf(buf, sizeof buf, "%s/bin/python", f[F_ENV]);
    if (strcmp(buf, f[F_PYTHON]) != 0) return;
    /* A name the script is not recorded by yet (a new hard link): Python records it. */
    if (!is_recorded_name(f, path)) return;
    snprintf(sig, sizeof sig, "%llu:%llu:%lld:%lld:%lld", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino, (long long)st.st_size, MTIME_NS(st), CTIME_NS(st));
    if (strcmp(sig, f[F_SCRIPT_SIG]) != 0) return; /* Python compares the block and refreshes */
    if (!join(buf, sizeof buf, path, ".lock")) return;
    file_signature(buf, sig, sizeof sig);
    if (strcmp(sig, f[F_LOCK_SIG]) != 0) return;
    const char *override = getenv("UVLAUNCH_UV");
    if (override != NULL && override[0] != '\0' && (!is_clean_absolute(override) || strcmp(override, f[F_UV]) != 0))
        return;
    file_signature(f[F_UV], sig, sizeof sig);
    if (strcmp(sig, f[F_UV_SIG]) != 0) return;
    long depth = 0;
    const char *depth_text = getenv("UV_RUN_RECURSION_DEPTH");
    if (depth_text != NULL) {
        size_t len = strlen(depth_text);
        if (len == 0 || len > 9 || strspn(depth_text, "0123456789") != len) return;
        depth = strtol(depth_text, NULL, 10);
    }

    /* Held from before the last checks until the script exits (inherited across exec):
       gc and remove cannot delete the generation from under it. Then the pointer: an
       upgrade may have flipped it since the record was written, and only a generation
       that is not current can be deleted; Python finds the current one. */
    snprintf(buf, sizeof buf, "%s/uvlaunch-use", f[F_ENV]);
    int lock = take_use_lock(buf);
    if (lock < 0) return;
    snprintf(buf, sizeof buf, "%s/uvlaunch-stamp", f[F_ENV]);
    /* The interpreter the environment was built with, not another one behind its path. */
    file_signature(f[F_PYTHON], sig, sizeof sig);
    if (!is_current(pointer, generation) || !stamp_complete(buf) || strcmp(sig, f[F_PYTHON_SIG]) != 0 ||
        strcmp(sig, "-") == 0) {
        close(lock);
        return;
    }
    /* "last launched", for `list` and `gc --unused-for`; from a home that cannot be
       written (mounted read-only), in the state directory (usage.py). */
    if (utimensat(AT_FDCWD, buf, NULL, 0) != 0 && !record_use(home, f[F_NAME], f[F_POINTER])) {
        close(lock);
        return;
    }

    /* fastpath.child_environ(): what `uv run` sets for the script it starts. */
    size_t count = 0;
    while (environ[count] != NULL) count++;
    char **envp = calloc(count + 5, sizeof *envp);
    char **argv = calloc((size_t)nargs + 3, sizeof *argv);
    if (envp == NULL || argv == NULL) {
        close(lock);
        return;
    }
    size_t k = 0;
    for (size_t i = 0; i < count; i++) {
        const char *e = environ[i], *eq = strchr(e, '=');
        if (eq == NULL) continue;
        size_t len = (size_t)(eq - e);
        if ((len == 11 && strncmp(e, "VIRTUAL_ENV", len) == 0) || (len == 4 && strncmp(e, "PATH", len) == 0) ||
            (len == 2 && strncmp(e, "UV", len) == 0) || (len == 22 && strncmp(e, "UV_RUN_RECURSION_DEPTH", len) == 0))
            continue;
        envp[k++] = (char *)e;
    }
    const char *old_path = getenv("PATH");
    char depth_buf[24];
    snprintf(depth_buf, sizeof depth_buf, "%ld", depth + 1);
    snprintf(buf, sizeof buf, "%s/bin", f[F_ENV]);
    envp[k++] = env_entry("VIRTUAL_ENV", f[F_ENV], "", "");
    /* uv: `bin` when PATH is unset, `bin:` when it is set but empty */
    envp[k++] = env_entry("PATH", buf, old_path == NULL ? "" : ":", old_path == NULL ? "" : old_path);
    envp[k++] = env_entry("UV", f[F_UV], "", "");
    envp[k++] = env_entry("UV_RUN_RECURSION_DEPTH", depth_buf, "", "");
    for (size_t i = k - 4; i < k; i++) {
        if (envp[i] == NULL) {
            close(lock);
            return;
        }
    }
    argv[0] = f[F_PYTHON];
    argv[1] = (char *)invoked;
    for (int i = 0; i < nargs; i++) argv[i + 2] = args[i];
    /* Python opens `invoked` itself: if a symlink on the way now leads elsewhere (a deploy
       flipped `current`), this environment is not that file's; Python starts over. */
    if (realpath(invoked, buf) == NULL || strcmp(buf, path) != 0) {
        close(lock);
        return;
    }
    execve(f[F_PYTHON], argv, envp);
    close(lock); /* not started: Python tries, and says why if it cannot */
}

/* fastpath.disabled(): UVLAUNCH_NO_FAST_PATH is one of TRUTHY, in any case. */
static int no_fast_path(void) {
    const char *off = getenv("UVLAUNCH_NO_FAST_PATH");
    if (off == NULL) return 0;
    for (const char *const *t = TRUTHY; *t != NULL; t++)
        if (strcasecmp(off, *t) == 0) return 1;
    return 0;
}

int main(int argc, char **argv) {
    struct stat st;
    if (no_fast_path()) hand_over(argc, argv);
    /* A closed standard stream would become our lock file's descriptor: Python decides. */
    for (int fd = 0; fd < 3; fd++)
        if (fstat(fd, &st) != 0) hand_over(argc, argv);
    int i = 1;
    for (; i < argc; i++) { /* main.main's launch options: -q and -v only matter to uv */
        const char *w = argv[i];
        if (strcmp(w, "-q") == 0 || strcmp(w, "--quiet") == 0 || strcmp(w, "-v") == 0 ||
            strcmp(w, "--verbose") == 0)
            continue;
        if (w[0] == '-' && strlen(w) > 2 && strspn(w + 1, "qv") == strlen(w) - 1) continue;
        break;
    }
    if (i >= argc || argv[i][0] == '-') hand_over(argc, argv);
    if (strchr(argv[i], '/') == NULL) {
        for (const char *const *s = SUBCOMMANDS; *s != NULL; s++)
            /* Or the user's own script of that name here: Python decides, never this
               launcher (way.own_file_here: whose file, in whose directory). */
            if (strcmp(argv[i], *s) == 0) hand_over(argc, argv);
    }
    try_warm(argv[i], argv + i + 1, argc - i - 1);
    hand_over(argc, argv);
    return 2;
}
