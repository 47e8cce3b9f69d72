use super::*;

/// Runs `check` on the host's files under a temp dir and on memory files under a path that
/// does not exist on the host: both must behave the same.
fn on_both(check: impl Fn(&dyn Files, &Path)) {
    let dir = tempfile::tempdir().unwrap();
    check(&HostFiles, dir.path());
    let memory = MemoryFiles::default();
    check(&memory, Path::new("/nonexistent-skiff-root/x"));
}

fn kinds(files: &dyn Files, dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = files
        .read_dir(dir)
        .unwrap()
        .into_iter()
        .map(|n| n.to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn files_and_directories_are_written_read_and_listed() {
    on_both(|files, root| {
        files.create_dir_all(&root.join("a/b")).unwrap();
        files.create_dir_all(&root.join("a/b")).unwrap();
        files.write(&root.join("a/b/f"), b"one").unwrap();
        files.write(&root.join("a/b/f"), b"two").unwrap();
        files.create_dir_all(&root.join("a/b-x")).unwrap();
        files.create_dir_all(&root.join("a/b/c/d")).unwrap();
        assert_eq!(files.read(&root.join("a/b/f")).unwrap(), b"two");
        assert_eq!(kinds(files, &root.join("a")), ["b", "b-x"]);
        assert_eq!(kinds(files, &root.join("a/b")), ["c", "f"]);

        let meta = files.metadata(&root.join("a/b/f")).unwrap();
        assert_eq!((meta.kind, meta.mode & 0o777), (Kind::File, 0o644));
        files.set_mode(&root.join("a/b/f"), 0o400).unwrap();
        assert_eq!(files.metadata(&root.join("a/b/f")).unwrap().mode, 0o400);
        assert_eq!(files.metadata(&root.join("a")).unwrap().kind, Kind::Dir);
        assert!(files.exists(&root.join("a/b-x")));
        assert!(!files.exists(&root.join("a/nothing")));

        // A missing parent, a directory read as a file, a file used as a directory.
        let err = files.write(&root.join("missing/f"), b"").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(files.read(&root.join("a/b")).is_err());
        assert!(files.create_dir_all(&root.join("a/b/f/g")).is_err());
        assert!(files.read_dir(&root.join("a/nothing")).is_err());

        // Removing a directory takes what is under it, not its neighbours.
        files.remove_dir_all(&root.join("a/b")).unwrap();
        assert_eq!(kinds(files, &root.join("a")), ["b-x"]);
        let err = files.remove_dir_all(&root.join("a/b")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    });
}

#[test]
fn symlinks_are_followed_swapped_by_rename_and_removed_as_links() {
    on_both(|files, root| {
        files.create_dir_all(&root.join("v/..gen1")).unwrap();
        files.create_dir_all(&root.join("v/..gen2")).unwrap();
        files.write(&root.join("v/..gen1/key"), b"old").unwrap();
        files.write(&root.join("v/..gen2/key"), b"new").unwrap();
        files
            .symlink(Path::new("..gen1"), &root.join("v/..data"))
            .unwrap();
        files
            .symlink(Path::new("..data/key"), &root.join("v/key"))
            .unwrap();
        assert_eq!(files.read(&root.join("v/key")).unwrap(), b"old");
        assert_eq!(
            files.metadata(&root.join("v/key")).unwrap().kind,
            Kind::File
        );
        assert_eq!(
            files.symlink_metadata(&root.join("v/key")).unwrap().kind,
            Kind::Symlink
        );
        assert_eq!(kinds(files, &root.join("v/..data")), ["key"]);
        assert!(
            files
                .symlink(Path::new("..gen2"), &root.join("v/..data"))
                .is_err(),
            "a link is not replaced by another symlink call"
        );

        // The atomic swap: a new link renamed over the old one.
        files
            .symlink(Path::new("..gen2"), &root.join("v/..data_tmp"))
            .unwrap();
        files
            .rename(&root.join("v/..data_tmp"), &root.join("v/..data"))
            .unwrap();
        assert_eq!(files.read(&root.join("v/key")).unwrap(), b"new");
        assert_eq!(
            files.read_link(&root.join("v/..data")).unwrap(),
            Path::new("..gen2")
        );
        assert!(!files.exists(&root.join("v/..data_tmp")));

        // Removing a link leaves its target; a dangling link is no file.
        files.remove_file(&root.join("v/..data")).unwrap();
        assert!(files.exists(&root.join("v/..gen2/key")));
        assert!(!files.exists(&root.join("v/key")));
        assert!(files.symlink_metadata(&root.join("v/key")).is_ok());
        files.remove_dir_all(&root.join("v/..gen2")).unwrap();
        assert_eq!(kinds(files, &root.join("v")), ["..gen1", "key"]);

        // A directory moves with what is in it, over an empty one but not a full one.
        files.create_dir_all(&root.join("v/moved")).unwrap();
        files
            .rename(&root.join("v/..gen1"), &root.join("v/moved"))
            .unwrap();
        assert_eq!(files.read(&root.join("v/moved/key")).unwrap(), b"old");
        assert!(!files.exists(&root.join("v/..gen1")));
        files.create_dir_all(&root.join("v/other")).unwrap();
        assert!(
            files
                .rename(&root.join("v/other"), &root.join("v/moved"))
                .is_err()
        );
        assert!(
            files
                .rename(&root.join("v/other"), &root.join("v/key"))
                .is_err()
        );
    });
}

#[test]
fn memory_files_refuse_relative_paths_and_link_loops() {
    let files = MemoryFiles::default();
    assert!(files.create_dir_all(Path::new("relative")).is_err());
    files.create_dir_all(Path::new("/d")).unwrap();
    files.symlink(Path::new("b"), Path::new("/d/a")).unwrap();
    files.symlink(Path::new("a"), Path::new("/d/b")).unwrap();
    assert!(files.read(Path::new("/d/a")).is_err());
    assert_eq!(
        files.symlink_metadata(Path::new("/d/a")).unwrap().kind,
        Kind::Symlink
    );
}

#[test]
fn paths_through_beside_and_back_out_of_a_link_resolve_as_on_the_host() {
    on_both(|files, root| {
        files.create_dir_all(&root.join("d/a/inner")).unwrap();
        files.create_dir_all(&root.join("d/c")).unwrap();
        files
            .symlink(Path::new("a/inner"), &root.join("d/b"))
            .unwrap();
        files.write(&root.join("d/b/f"), b"through").unwrap();
        assert_eq!(files.read(&root.join("d/a/inner/f")).unwrap(), b"through");
        // `..` after a link leaves its target, not the directory the link is in.
        files.write(&root.join("d/b/../g"), b"up").unwrap();
        assert_eq!(files.read(&root.join("d/a/g")).unwrap(), b"up");
        // Neighbours of the link, after and before it in name order.
        files.write(&root.join("d/c/h"), b"beside").unwrap();
        files.write(&root.join("d/a/i"), b"before").unwrap();
        assert_eq!(files.read(&root.join("d/c/h")).unwrap(), b"beside");
        assert_eq!(kinds(files, &root.join("d/a")), ["g", "i", "inner"]);
        assert_eq!(kinds(files, &root.join("d/b")), ["f"]);
        assert_eq!(
            files.symlink_metadata(&root.join("d/b")).unwrap().kind,
            Kind::Symlink
        );
        assert_eq!(files.metadata(&root.join("d/b")).unwrap().kind, Kind::Dir);
        // Once the link is gone, the path through it leads nowhere.
        files.remove_file(&root.join("d/b")).unwrap();
        assert!(!files.exists(&root.join("d/b/f")));
        assert!(files.exists(&root.join("d/a/inner/f")));
    });
}
