//! The SQLite and PostgreSQL migrations are one schema written twice: the same files by name,
//! and the same text once the known differences between the two dialects are written one way.
//! A change made to one side only fails here.
//!
//! The differences allowed, each rewritten by [`normalise`] on both sides:
//!
//! | SQLite | PostgreSQL | why |
//! |---|---|---|
//! | `PRIMARY KEY NOT NULL` | `PRIMARY KEY` | SQLite lets a non-`INTEGER` primary key hold NULL unless told; PostgreSQL implies NOT NULL (either side may spell it out) |
//! | `(SQLite)` | `(PostgreSQL)` | a header comment naming the dialect |
//!
//! A new difference the dialects force (a type, a function) gets a row here and a rule in
//! [`normalise`], not a silent copy that drifts.

use std::collections::BTreeMap;
use std::path::Path;

/// Rewrites the allowed dialect differences one way (see the module).
fn normalise(sql: &str) -> String {
    sql.replace("PRIMARY KEY NOT NULL", "PRIMARY KEY")
        .replace("(SQLite)", "(DIALECT)")
        .replace("(PostgreSQL)", "(DIALECT)")
}

/// What differs between two sets of migrations (file name to text): names on one side only,
/// and for each pair, the first line that still differs after [`normalise`]. Empty when they
/// are in step.
fn drift(sqlite: &BTreeMap<String, String>, postgres: &BTreeMap<String, String>) -> Vec<String> {
    let mut found = Vec::new();
    for name in sqlite.keys().filter(|n| !postgres.contains_key(*n)) {
        found.push(format!("{name}: only in sqlite"));
    }
    for name in postgres.keys().filter(|n| !sqlite.contains_key(*n)) {
        found.push(format!("{name}: only in postgres"));
    }
    for (name, lite) in sqlite {
        let Some(pg) = postgres.get(name) else {
            continue;
        };
        let (lite, pg) = (normalise(lite), normalise(pg));
        let mut lite_lines = lite.lines();
        let mut pg_lines = pg.lines();
        for line in 1.. {
            match (lite_lines.next(), pg_lines.next()) {
                (None, None) => break,
                (a, b) if a == b => {}
                (a, b) => {
                    found.push(format!(
                        "{name} line {line}: sqlite {:?}, postgres {:?}",
                        a.unwrap_or("(end)"),
                        b.unwrap_or("(end)")
                    ));
                    break;
                }
            }
        }
    }
    found
}

fn read_dir(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("directory entry").path();
            let name = path
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (name, text)
        })
        .collect()
}

#[test]
fn sqlite_and_postgres_migrations_are_in_step() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let sqlite = read_dir(&root.join("sqlite"));
    let postgres = read_dir(&root.join("postgres"));
    assert!(sqlite.len() >= 9, "migrations not found under {root:?}");
    let found = drift(&sqlite, &postgres);
    assert!(
        found.is_empty(),
        "the SQLite and PostgreSQL migrations differ beyond the dialect differences listed in \
         crates/store/src/migration_pairs.rs:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_dialect_differences_are_not_drift() {
    let sqlite = BTreeMap::from([(
        "0001_a.sql".to_string(),
        "-- Users (SQLite).\nCREATE TABLE u (id TEXT PRIMARY KEY NOT NULL, n BIGINT NOT NULL);\n"
            .to_string(),
    )]);
    let postgres = BTreeMap::from([(
        "0001_a.sql".to_string(),
        "-- Users (PostgreSQL).\nCREATE TABLE u (id TEXT PRIMARY KEY, n BIGINT NOT NULL);\n"
            .to_string(),
    )]);
    assert_eq!(drift(&sqlite, &postgres), Vec::<String>::new());
}

#[test]
fn a_change_to_one_side_is_drift() {
    let file = |sql: &str| BTreeMap::from([("0002_b.sql".to_string(), sql.to_string())]);
    let sqlite = file("CREATE TABLE t (id TEXT PRIMARY KEY NOT NULL,\n    n BIGINT NOT NULL);\n");
    // A column added on one side only.
    let postgres =
        file("CREATE TABLE t (id TEXT PRIMARY KEY,\n    n BIGINT NOT NULL,\n    m TEXT);\n");
    assert_eq!(
        drift(&sqlite, &postgres),
        [
            r#"0002_b.sql line 2: sqlite "    n BIGINT NOT NULL);", postgres "    n BIGINT NOT NULL,""#
        ]
    );
    // A migration on one side only.
    let mut more = sqlite.clone();
    more.insert("0003_c.sql".to_string(), "DROP TABLE t;\n".to_string());
    assert_eq!(drift(&more, &sqlite), ["0003_c.sql: only in sqlite"]);
    assert_eq!(drift(&sqlite, &more), ["0003_c.sql: only in postgres"]);
    // A trailing statement on one side only.
    let longer = file(
        "CREATE TABLE t (id TEXT PRIMARY KEY NOT NULL,\n    n BIGINT NOT NULL);\nDROP TABLE t;\n",
    );
    assert_eq!(
        drift(&longer, &sqlite),
        [r#"0002_b.sql line 3: sqlite "DROP TABLE t;", postgres "(end)""#]
    );
}
