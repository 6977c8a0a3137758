//! `merge.mode = "pr"`: the branch is pushed to a real (local, bare) remote and a draft pull
//! request opened through a stand-in `gh` on the child's PATH (GitHub is not reachable here),
//! which records its arguments and the description it was given.

mod common;

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::TestRepo;
use duet_git::GitErrorKind;
use duet_git::land::{PrDescription, PrRequest, open_pull_request};

/// A `gh` that appends its arguments to `args.log`, its stdin to `body.md`, then prints the
/// URL or, when `existing` is set, fails as gh does for a branch that already has one.
fn stand_in_gh(dir: &Path, existing: bool) {
    let script = if existing {
        "#!/bin/sh\ncat >/dev/null\necho 'a pull request for branch \"duet/t1\" into branch \"main\" already exists:' >&2\necho 'https://github.example/o/r/pull/7' >&2\nexit 1\n".to_owned()
    } else {
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" >> '{0}/args.log'\ncat > '{0}/body.md'\necho 'https://github.example/o/r/pull/12'\n",
            dir.display()
        )
    };
    let gh = dir.join("gh");
    std::fs::write(&gh, script).unwrap();
    std::fs::set_permissions(&gh, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn child_env(bin: &Path) -> Vec<(OsString, OsString)> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut joined = OsString::from(bin);
    joined.push(":");
    joined.push(path);
    vec![
        (OsString::from("PATH"), joined),
        (
            OsString::from("GIT_CONFIG_GLOBAL"),
            OsString::from("/dev/null"),
        ),
        (OsString::from("GIT_CONFIG_NOSYSTEM"), OsString::from("1")),
    ]
}

fn setup() -> (TestRepo, std::path::PathBuf) {
    let test = TestRepo::new();
    let remote = test.sibling("remote.git");
    test.git_in(
        remote.parent().unwrap(),
        &["init", "-q", "--bare", remote.to_str().unwrap()],
    );
    test.git(&["remote", "add", "origin", remote.to_str().unwrap()]);
    test.git(&["switch", "-q", "-c", "duet/t1"]);
    test.commit_in(&test.path, "greet.txt", "hello\n");
    test.git(&["switch", "-q", "main"]);
    let bin = test.sibling("bin");
    std::fs::create_dir(&bin).unwrap();
    (test, bin)
}

#[test]
fn pushes_the_branch_and_opens_a_draft_with_the_description() {
    let (test, bin) = setup();
    stand_in_gh(&bin, false);
    let body = PrDescription {
        task_id: "t1".into(),
        title: "Add greeting".into(),
        prompt: "Greet.".into(),
        review_rounds: 1,
        ..PrDescription::default()
    }
    .render();
    let env = child_env(&bin);

    let opened = open_pull_request(&PrRequest {
        workdir: &test.path,
        remote: "origin",
        branch: "duet/t1",
        base: "main",
        title: "Add greeting",
        body: &body,
        gh: "gh",
        env: &env,
    })
    .unwrap();

    assert_eq!(opened.url, "https://github.example/o/r/pull/12");
    assert!(!opened.already_existed);
    let remote = test.sibling("remote.git");
    assert_eq!(
        test.git_in(&remote, &["rev-parse", "duet/t1"]),
        test.git(&["rev-parse", "duet/t1"]),
        "the branch was pushed"
    );
    let args = std::fs::read_to_string(bin.join("args.log")).unwrap();
    assert_eq!(
        args,
        "pr\ncreate\n--draft\n--base\nmain\n--head\nduet/t1\n--title\nAdd greeting\n--body-file\n-\n"
    );
    assert_eq!(std::fs::read_to_string(bin.join("body.md")).unwrap(), body);
    assert!(body.contains("1 review round. No findings."), "{body}");
}

#[test]
fn an_existing_pull_request_is_reported_not_an_error() {
    let (test, bin) = setup();
    stand_in_gh(&bin, true);
    let env = child_env(&bin);
    let opened = open_pull_request(&PrRequest {
        workdir: &test.path,
        remote: "origin",
        branch: "duet/t1",
        base: "main",
        title: "t",
        body: "b",
        gh: "gh",
        env: &env,
    })
    .unwrap();
    assert_eq!(opened.url, "https://github.example/o/r/pull/7");
    assert!(opened.already_existed);
}

#[test]
fn a_failed_push_is_a_clear_error_and_gh_is_not_run() {
    let (test, bin) = setup();
    stand_in_gh(&bin, false);
    test.git(&["remote", "set-url", "origin", "/nonexistent/remote.git"]);
    let env = child_env(&bin);
    let err = open_pull_request(&PrRequest {
        workdir: &test.path,
        remote: "origin",
        branch: "duet/t1",
        base: "main",
        title: "t",
        body: "b",
        gh: "gh",
        env: &env,
    })
    .unwrap_err();
    assert!(matches!(err.kind, GitErrorKind::GitCommand { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("failed to push `duet/t1` to `origin`: `git` failed:"),
        "{err}"
    );
    assert!(!bin.join("args.log").exists());
}
