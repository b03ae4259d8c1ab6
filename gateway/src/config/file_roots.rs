//! Which local files a files source may read.
//!
//! A source's local path (a plain path or a `file://` URL; object stores are
//! not concerned) must lie inside an allowed root, and must neither be nor
//! hold the gateway's own state: the data dir (except its sample folder),
//! the config file and the key files it names. Paths are compared after
//! `.`, `..` and symlinks are resolved, so neither a `../` nor a link leads
//! out of a root.
//!
//! The roots:
//!
//! - `[server] file_roots` when set, for every source;
//! - without it, a config file's own sources may read where they point (the
//!   operator wrote each URL), and sources created through the API may read
//!   nothing local;
//! - with no config file at all (the embedded default), the sample folder.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

use tributary_connectors::files::local_path;

use super::ConfigFile;
use crate::sample;
use crate::secrets::MASTER_KEY_FILE_ENV;

/// How many symlinks one path may pass through, as Linux's `MAXSYMLINKS`.
const MAX_LINKS: usize = 40;

/// Why a files source may not read where its URL points. The message names
/// the URL and the rule, never anything read from the files.
#[derive(Debug, thiserror::Error)]
pub enum FileAccessError {
    #[error("{url:?} is outside the allowed file roots {roots}{note}")]
    OutsideRoots {
        url: String,
        roots: String,
        note: &'static str,
    },
    #[error(
        "{url:?} is inside the data dir {dir} (catalog.db, credentials.json): only its sample folder may be read as data"
    )]
    InsideDataDir { url: String, dir: String },
    #[error(
        "{url:?} includes the data dir {dir} (catalog.db, credentials.json), which may not be read as data"
    )]
    IncludesDataDir { url: String, dir: String },
    #[error("{url:?} is or includes {what} {path}, which may not be read as data")]
    Protected {
        url: String,
        what: &'static str,
        path: String,
    },
    #[error("{url:?} cannot be checked against the allowed file roots: {reason}")]
    Unresolvable { url: String, reason: String },
}

/// The places a set of sources may read.
#[derive(Debug, Clone)]
struct Allowed {
    /// Resolved, to compare with resolved source paths.
    resolved: Vec<PathBuf>,
    /// As configured, for messages: `["/srv/lake"]`.
    shown: String,
    /// Which rule this is, for messages.
    note: &'static str,
}

impl Allowed {
    fn new(roots: &[PathBuf], note: &'static str) -> Self {
        let shown: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
        Self {
            resolved: roots.iter().map(|r| resolve_or_self(r)).collect(),
            shown: format!("{shown:?}"),
            note,
        }
    }
}

/// A file that is never data: the config file, a key file.
#[derive(Debug, Clone)]
struct Protected {
    resolved: PathBuf,
    shown: String,
    what: &'static str,
}

/// The rule for local files, built once from the config and the data dir.
#[derive(Debug, Clone)]
pub struct FileRoots {
    /// For the config file's sources; `None`: wherever they point.
    config: Option<Allowed>,
    /// For sources created through the API and loaded from the catalog store.
    api: Allowed,
    data_dir: PathBuf,
    data_dir_shown: String,
    sample_dir: PathBuf,
    protected: Vec<Protected>,
}

const CONFIGURED: &str = " ([server] file_roots)";
const EMBEDDED: &str = " (without a config file only the sample folder may be read; set [server] file_roots in a config file to allow more)";
const NOT_SET: &str = " ([server] file_roots is not set: only the config file's own files sources read local files; set it to allow sources created through the API)";

impl FileRoots {
    /// The rule for a gateway started with `config` (if any) on `data_dir`.
    pub fn new(config: Option<&ConfigFile>, data_dir: &Path) -> Self {
        let sample_dir = sample::sample_dir(data_dir);
        let (config_roots, api) = match config {
            None => (
                None,
                Allowed::new(std::slice::from_ref(&sample_dir), EMBEDDED),
            ),
            Some(config) => match config.file_roots() {
                Some(roots) => {
                    let allowed = Allowed::new(&roots, CONFIGURED);
                    (Some(allowed.clone()), allowed)
                }
                None => (None, Allowed::new(&[], NOT_SET)),
            },
        };
        let mut protected = Vec::new();
        let mut protect = |path: &Path, what: &'static str| {
            protected.push(Protected {
                resolved: resolve_or_self(path),
                shown: path.display().to_string(),
                what,
            });
        };
        if let Some(config) = config {
            protect(&config.path, "the config file");
            for file in config.key_files() {
                protect(&file, "the key file");
            }
        }
        if let Some(file) = std::env::var_os(MASTER_KEY_FILE_ENV).filter(|f| !f.is_empty()) {
            protect(Path::new(&file), "the master key file");
        }
        Self {
            config: config_roots,
            api,
            data_dir: resolve_or_self(data_dir),
            data_dir_shown: data_dir.display().to_string(),
            sample_dir: resolve_or_self(&sample_dir),
            protected,
        }
    }

    /// Whether a source of the config file may read `url`.
    pub fn check_config_source(&self, url: &str) -> Result<(), FileAccessError> {
        self.check(url, self.config.as_ref())
    }

    /// Whether a source created through the API (or stored by it) may read `url`.
    pub fn check_api_source(&self, url: &str) -> Result<(), FileAccessError> {
        self.check(url, Some(&self.api))
    }

    fn check(&self, url: &str, allowed: Option<&Allowed>) -> Result<(), FileAccessError> {
        let Some(path) = local_path(url) else {
            return Ok(());
        };
        let target =
            resolve(&before_glob(&path)).map_err(|reason| FileAccessError::Unresolvable {
                url: url.to_owned(),
                reason,
            })?;
        if target.starts_with(&self.data_dir) && !target.starts_with(&self.sample_dir) {
            return Err(FileAccessError::InsideDataDir {
                url: url.to_owned(),
                dir: self.data_dir_shown.clone(),
            });
        }
        if self.data_dir.starts_with(&target) {
            return Err(FileAccessError::IncludesDataDir {
                url: url.to_owned(),
                dir: self.data_dir_shown.clone(),
            });
        }
        if let Some(file) = self
            .protected
            .iter()
            .find(|p| p.resolved.starts_with(&target))
        {
            return Err(FileAccessError::Protected {
                url: url.to_owned(),
                what: file.what,
                path: file.shown.clone(),
            });
        }
        match allowed {
            Some(allowed) if !allowed.resolved.iter().any(|root| target.starts_with(root)) => {
                Err(FileAccessError::OutsideRoots {
                    url: url.to_owned(),
                    roots: allowed.shown.clone(),
                    note: allowed.note,
                })
            }
            _ => Ok(()),
        }
    }
}

/// The folder that holds the first glob character, or the whole path. A
/// glob's `*` also matches `/`, so everything below that folder may be read:
/// `/srv/lake*/x.csv` reads `/srv/`, not only `/srv/lake`.
fn before_glob(path: &Path) -> PathBuf {
    let is_glob = |part: &std::ffi::OsStr| part.to_string_lossy().contains(['*', '?', '[']);
    path.components()
        .take_while(|part| !is_glob(part.as_os_str()))
        .collect()
}

/// `path` made absolute with `.`, `..` and every symlink resolved, one
/// component at a time as the kernel walks it; what does not exist (yet) is
/// taken as written below its existing parent. Like `realpath -m`.
pub fn resolve(path: &Path) -> Result<PathBuf, String> {
    let absolute = std::path::absolute(path).map_err(|e| e.to_string())?;
    let mut pending: VecDeque<Step> = steps(&absolute).collect();
    let mut resolved = PathBuf::new();
    let mut links = 0;
    while let Some(step) = pending.pop_front() {
        match step {
            Step::Prefix(prefix) => resolved = PathBuf::from(prefix),
            Step::Root => {
                let prefix = resolved
                    .components()
                    .next()
                    .filter(|c| matches!(c, Component::Prefix(_)));
                let mut root: PathBuf = prefix.into_iter().collect();
                root.push(Component::RootDir);
                resolved = root;
            }
            // `resolved` holds no symlink, so its parent is the real one.
            Step::Up => {
                resolved.pop();
            }
            Step::Name(name) => {
                let candidate = resolved.join(&name);
                let is_link = std::fs::symlink_metadata(&candidate)
                    .is_ok_and(|meta| meta.file_type().is_symlink());
                if !is_link {
                    // A file, a folder, or nothing yet: taken as written.
                    resolved = candidate;
                    continue;
                }
                links += 1;
                if links > MAX_LINKS {
                    return Err(format!(
                        "more than {MAX_LINKS} symbolic links (a loop?) at {}",
                        candidate.display()
                    ));
                }
                let target = std::fs::read_link(&candidate)
                    .map_err(|e| format!("cannot read the link {}: {e}", candidate.display()))?;
                // The link's target is walked in its place, from the link's
                // folder when relative, from the root when absolute.
                for step in steps(&target).collect::<Vec<_>>().into_iter().rev() {
                    pending.push_front(step);
                }
            }
        }
    }
    Ok(resolved)
}

/// As [`resolve`]; a path that cannot be resolved stays as written (it then
/// matches only itself, which is the safe side for roots and protected files).
fn resolve_or_self(path: &Path) -> PathBuf {
    resolve(path).unwrap_or_else(|_| path.to_owned())
}

enum Step {
    Prefix(OsString),
    Root,
    Up,
    Name(OsString),
}

fn steps(path: &Path) -> impl Iterator<Item = Step> + '_ {
    path.components().filter_map(|component| match component {
        Component::Prefix(prefix) => Some(Step::Prefix(prefix.as_os_str().to_owned())),
        Component::RootDir => Some(Step::Root),
        Component::CurDir => None,
        Component::ParentDir => Some(Step::Up),
        Component::Normal(name) => Some(Step::Name(name.to_owned())),
    })
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    /// A lake root with a data dir and a config file inside it, and a
    /// folder outside it.
    struct Layout {
        _temp: tempfile::TempDir,
        /// Resolved, as `/tmp` may itself be a link.
        top: PathBuf,
        lake: PathBuf,
        roots: FileRoots,
    }

    fn layout(file_roots: Option<&str>) -> Layout {
        let temp = tempfile::tempdir().expect("temp dir");
        let top = resolve(temp.path()).expect("resolve");
        let lake = top.join("lake");
        for dir in ["lake/sales", "lake/data/sample", "outside"] {
            std::fs::create_dir_all(top.join(dir)).expect("mkdir");
        }
        std::fs::write(top.join("lake/sales/orders.csv"), "id\n1\n").expect("write");
        std::fs::write(top.join("lake/data/catalog.db"), "").expect("write");
        symlink(top.join("outside"), lake.join("escape")).expect("symlink");
        symlink("../lake/sales", top.join("outside/back")).expect("symlink");
        let roots_line = file_roots
            .map(|roots| format!("[server]\nfile_roots = {roots}\n"))
            .unwrap_or_default();
        let text = format!(
            "{roots_line}[[sources]]\nname = \"s\"\nkind = \"postgres\"\nhost = \"h\"\ndatabase = \"d\"\nuser = \"u\"\n\
             password = {{ file = \"{}/lake/keys/pg\" }}\n",
            top.display()
        );
        let config = ConfigFile::parse(&lake.join("tributary.toml"), text).expect("config");
        let roots = FileRoots::new(Some(&config), &lake.join("data"));
        Layout {
            _temp: temp,
            top,
            lake,
            roots,
        }
    }

    fn refusal(roots: &FileRoots, url: &str) -> String {
        match roots.check_api_source(url) {
            Ok(()) => String::new(),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn resolve_walks_dots_and_links_and_keeps_what_does_not_exist() {
        let Layout {
            _temp, top, lake, ..
        } = layout(None);
        let outside = top.join("outside");
        assert_eq!(
            resolve(&lake.join("sales/../sales/./")),
            Ok(lake.join("sales"))
        );
        assert_eq!(resolve(&lake.join("escape")), Ok(outside.clone()));
        assert_eq!(resolve(&lake.join("escape/x/y")), Ok(outside.join("x/y")));
        // `..` after a link leaves the link's target, as the kernel does.
        assert_eq!(resolve(&lake.join("escape/..")), Ok(top.clone()));
        assert_eq!(resolve(&lake.join("escape/back")), Ok(lake.join("sales")));
        // Missing parts are lexical, below the last existing folder.
        assert_eq!(
            resolve(&lake.join("new/../../outside")),
            Ok(outside.clone())
        );
        symlink("loop", top.join("loop")).expect("symlink");
        assert!(resolve(&top.join("loop/x")).is_err_and(|e| e.contains("symbolic links")));
    }

    #[test]
    fn only_paths_inside_the_roots_and_outside_the_gateways_state_pass() {
        let Layout {
            _temp,
            top,
            lake,
            roots,
            ..
        } = layout(Some("[\".\"]"));
        let lake_text = lake.display();
        for allowed in [
            format!("{lake_text}/sales/"),
            format!("{lake_text}/sales/orders.csv"),
            format!("file://{lake_text}/sales/"),
            format!("{lake_text}/sales/*.csv"),
            format!("{lake_text}/not-yet/"),
            format!("{lake_text}/data/sample/"),
            format!("{}/outside/back/", top.display()),
            "s3://bucket/anything/".to_owned(),
            "https://example.com/f.csv".to_owned(),
        ] {
            assert_eq!(refusal(&roots, &allowed), "", "{allowed}");
        }
        for (refused, rule) in [
            ("file:///etc/".to_owned(), "outside the allowed file roots"),
            (
                format!("{lake_text}/../outside/"),
                "outside the allowed file roots",
            ),
            (format!("{lake_text}/sales/../../"), "includes the data dir"),
            (
                format!("file://{lake_text}/%2e%2e/outside/"),
                "outside the allowed file roots",
            ),
            (
                format!("file://otherhost{lake_text}/../outside/"),
                "outside",
            ),
            (
                format!("{lake_text}/escape/"),
                "outside the allowed file roots",
            ),
            (
                format!("{lake_text}/escape/x/../"),
                "outside the allowed file roots",
            ),
            // A glob reads everything below the folder of its first `*`
            // (here the lake, which holds the data dir), not only below
            // the name before it.
            (format!("{lake_text}/sales*/x.csv"), "includes the data dir"),
            (format!("{lake_text}/data*"), "includes the data dir"),
            (format!("{lake_text}/data/"), "inside the data dir"),
            (
                format!("{lake_text}/data/catalog.db"),
                "inside the data dir",
            ),
            (
                format!("{lake_text}/data/sample/../"),
                "inside the data dir",
            ),
            (format!("{lake_text}/"), "includes the data dir"),
            (format!("{lake_text}/tributary.toml"), "the config file"),
            (format!("{lake_text}/keys/"), "the key file"),
        ] {
            let message = refusal(&roots, &refused);
            assert!(
                !message.is_empty() && message.contains(rule),
                "{refused}: {message:?}"
            );
            assert!(message.contains(&format!("{refused:?}")), "{message}");
        }
        assert!(refusal(&roots, "/etc/").contains(&format!("[{:?}]", lake.display().to_string())));
    }

    #[test]
    fn without_file_roots_config_sources_go_where_they_point_and_api_ones_nowhere() {
        let Layout {
            _temp, lake, roots, ..
        } = layout(None);
        assert!(roots.check_config_source("/etc/").is_ok());
        assert!(
            roots
                .check_config_source(&format!("{}/sales/", lake.display()))
                .is_ok()
        );
        // The gateway's own state stays out of reach even so.
        let data = roots
            .check_config_source(&format!("{}/data/", lake.display()))
            .map_err(|e| e.to_string());
        assert!(data.is_err_and(|e| e.contains("inside the data dir")));
        let api = refusal(&roots, &format!("{}/sales/", lake.display()));
        assert!(api.contains("file_roots is not set"), "{api}");
    }

    #[test]
    fn the_embedded_default_reads_only_its_sample_folder() {
        let temp = tempfile::tempdir().expect("temp dir");
        let data = resolve(&temp.path().join("data")).expect("resolve");
        let roots = FileRoots::new(None, &data);
        let data_text = data.display();
        assert_eq!(refusal(&roots, &format!("{data_text}/sample/")), "");
        assert_eq!(
            refusal(&roots, &format!("{data_text}/sample/orders.parquet")),
            ""
        );
        assert!(refusal(&roots, &format!("{data_text}/")).contains("inside the data dir"));
        assert!(
            refusal(&roots, &format!("{data_text}/credentials.json"))
                .contains("inside the data dir")
        );
        let etc = refusal(&roots, "/etc/passwd");
        assert!(
            etc.contains("outside the allowed file roots") && etc.contains("without a config file"),
            "{etc}"
        );
    }
}
