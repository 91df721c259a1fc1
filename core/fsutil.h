/*
** Small file-system helpers shared by the commands that write folders.
*/
#ifndef QUILL_FSUTIL_H
#define QUILL_FSUTIL_H

/* mkdir -p dir (mode 0755 before the umask); 0, or -1 with err naming the
** folder that could not be made. */
int fs_mkdirs(const char *dir, char *err);

/* fs_mkdirs() of the folder that holds path (nothing when path has none). */
int fs_mkdirs_for(const char *path, char *err);

/* 1 when paths a and b name the same file: both exist and are one inode
** (device and inode, through symbolic links and hard links), or, when one
** does not exist yet, they are the same name once symbolic links and the
** folder are resolved (a store's future -wal file, say).  Else 0. */
int fs_same_file(const char *a, const char *b);
/* Move every file of the flat folder from (written beside to, on the same
** file system) into folder to, replacing files of the same names, and
** remove from; when to does not exist, from is renamed to it in one step.
** 0, or -1 with err (from is then left for the caller to remove). */
int fs_move_files(const char *from, const char *to, char *err);

/* Remove the flat folder dir and the files in it (clean-up after a
** failure: errors are ignored). */
void fs_remove_flat(const char *dir);

#endif
