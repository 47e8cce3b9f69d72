//! Resolving a container's command, environment and working directory against its image's
//! config, the way Kubernetes does.

use oci_spec::image::Config;

/// The process a container runs, after merging the pod spec with the image config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    pub args: Vec<String>,
    /// `KEY=value` pairs, image variables first, overridden by the pod's.
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
}

/// The Kubernetes rule: `command` replaces Entrypoint (and then the image Cmd is ignored);
/// `args` replaces Cmd.
pub fn resolve_args(image: Option<&Config>, command: &[String], args: &[String]) -> Vec<String> {
    let entrypoint = image
        .and_then(|c| c.entrypoint().clone())
        .unwrap_or_default();
    let cmd = image.and_then(|c| c.cmd().clone()).unwrap_or_default();
    match (command.is_empty(), args.is_empty()) {
        (false, _) => command.iter().chain(args).cloned().collect(),
        (true, false) => entrypoint.into_iter().chain(args.iter().cloned()).collect(),
        (true, true) => entrypoint.into_iter().chain(cmd).collect(),
    }
}

/// Image environment overridden by the pod's variables of the same name, order kept.
pub fn merge_env(image: Option<&Config>, env: &[(String, String)]) -> Vec<String> {
    let mut merged: Vec<(String, String)> = image
        .and_then(|c| c.env().clone())
        .unwrap_or_default()
        .into_iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (kv, String::new()),
        })
        .collect();
    for (key, value) in env {
        match merged.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value.clone(),
            None => merged.push((key.clone(), value.clone())),
        }
    }
    merged
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect()
}

/// The image's `User` when it is numeric (`uid` or `uid:gid`); root otherwise, since names
/// would need the image's `/etc/passwd`.
pub fn user(image: Option<&Config>) -> (u32, u32) {
    let Some(user) = image.and_then(|c| c.user().clone()) else {
        return (0, 0);
    };
    let (uid, gid) = user.split_once(':').unwrap_or((&user, "0"));
    match (uid.parse(), gid.parse()) {
        (Ok(uid), Ok(gid)) => (uid, gid),
        (Ok(uid), Err(_)) => (uid, 0),
        _ => (0, 0),
    }
}

/// Resolves the whole process of a container.
pub fn resolve(
    image: Option<&Config>,
    command: &[String],
    args: &[String],
    env: &[(String, String)],
    working_dir: Option<&str>,
) -> Process {
    let cwd = working_dir
        .map(str::to_string)
        .or_else(|| image.and_then(|c| c.working_dir().clone()))
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "/".to_string());
    let (uid, gid) = user(image);
    Process {
        args: resolve_args(image, command, args),
        env: merge_env(image, env),
        cwd,
        uid,
        gid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::image::ConfigBuilder;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn image() -> Config {
        ConfigBuilder::default()
            .entrypoint(strings(&["/entry"]))
            .cmd(strings(&["--default"]))
            .env(strings(&["PATH=/bin", "A=image"]))
            .working_dir("/work".to_string())
            .build()
            .unwrap()
    }

    #[test]
    fn no_command_and_no_args_run_entrypoint_with_cmd() {
        assert_eq!(
            resolve_args(Some(&image()), &[], &[]),
            strings(&["/entry", "--default"])
        );
    }

    #[test]
    fn args_replace_the_image_cmd_only() {
        assert_eq!(
            resolve_args(Some(&image()), &[], &strings(&["x"])),
            strings(&["/entry", "x"])
        );
    }

    #[test]
    fn command_replaces_entrypoint_and_ignores_the_image_cmd() {
        assert_eq!(
            resolve_args(Some(&image()), &strings(&["sh"]), &[]),
            strings(&["sh"])
        );
        assert_eq!(
            resolve_args(Some(&image()), &strings(&["sh"]), &strings(&["-c", "true"])),
            strings(&["sh", "-c", "true"])
        );
    }

    #[test]
    fn pod_env_overrides_image_env_and_keeps_order() {
        let env = merge_env(
            Some(&image()),
            &[("A".into(), "pod".into()), ("B".into(), "new".into())],
        );
        assert_eq!(env, strings(&["PATH=/bin", "A=pod", "B=new"]));
    }

    #[test]
    fn working_dir_falls_back_to_the_image_then_root() {
        assert_eq!(resolve(Some(&image()), &[], &[], &[], None).cwd, "/work");
        assert_eq!(resolve(Some(&image()), &[], &[], &[], Some("/x")).cwd, "/x");
        assert_eq!(resolve(None, &[], &[], &[], None).cwd, "/");
    }

    #[test]
    fn numeric_users_are_honoured_and_names_fall_back_to_root() {
        let numeric = ConfigBuilder::default()
            .user("1000:50".to_string())
            .build()
            .unwrap();
        assert_eq!(user(Some(&numeric)), (1000, 50));
        let named = ConfigBuilder::default()
            .user("nobody".to_string())
            .build()
            .unwrap();
        assert_eq!(user(Some(&named)), (0, 0));
    }
}
