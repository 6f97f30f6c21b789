//! The database runs the SQL functions as their files define them (`storage::schema`):
//! one current definition per function, applied on every `migrate`.

use std::collections::BTreeMap;

use coffeebuddy::storage::{self, schema::FUNCTION_FILES};
use sqlx::PgPool;

use crate::helpers::spawn_app;

/// Every function the files define: its qualified name and its body as written.
fn functions_in_files() -> BTreeMap<String, String> {
    let mut functions = BTreeMap::new();
    for (file, sql) in FUNCTION_FILES {
        for definition in sql.split("CREATE OR REPLACE FUNCTION ").skip(1) {
            let name = definition
                .split('(')
                .next()
                .expect("a name before the arguments")
                .trim();
            let name = if name.contains('.') {
                name.to_owned()
            } else {
                format!("public.{name}")
            };
            let body = definition
                .split("$$")
                .nth(1)
                .unwrap_or_else(|| panic!("{file}: {name} has no dollar-quoted body"));
            functions.insert(name, body.to_owned());
        }
    }
    functions
}

/// The functions of ours in the database (the public schema's, extensions' aside, and
/// the apalis functions a file replaces), with the bodies the database runs.
async fn functions_in_database(
    pool: &PgPool,
    ours: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT n.nspname || '.' || p.proname, p.prosrc
         FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname IN ('public', 'apalis')
           AND NOT EXISTS (SELECT 1 FROM pg_depend d
                           WHERE d.objid = p.oid AND d.deptype = 'e')",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    rows.into_iter()
        .filter(|(name, _)| name.starts_with("public.") || ours.contains_key(name))
        .collect()
}

#[tokio::test]
async fn the_database_runs_each_function_as_its_file_defines_it() {
    let app = spawn_app().await;
    let files = functions_in_files();
    assert!(
        files.contains_key("public.place_order"),
        "{:?}",
        files.keys()
    );
    assert!(files.contains_key("apalis.get_jobs"));

    assert_eq!(functions_in_database(&app.pool, &files).await, files);

    // Applying them again (every `migrate` does) changes nothing.
    storage::migrate(&app.pool).await.unwrap();
    assert_eq!(functions_in_database(&app.pool, &files).await, files);
}

#[tokio::test]
async fn the_triggers_are_the_files() {
    let app = spawn_app().await;
    let triggers: Vec<(String, String)> = sqlx::query_as(
        "SELECT t.tgrelid::regclass::text, t.tgname::text FROM pg_trigger t
         WHERE NOT t.tgisinternal ORDER BY 1, 2",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let triggers: Vec<(&str, &str)> = triggers
        .iter()
        .map(|(table, name)| (table.as_str(), name.as_str()))
        .collect();
    assert_eq!(
        triggers,
        [
            ("apalis.jobs", "finished_job_leaves_its_worker"),
            ("coffee_runs", "run_shares_follow_run"),
        ]
    );
    for (table, name) in triggers {
        let defined = FUNCTION_FILES.iter().any(|(_, sql)| {
            sql.contains(&format!("CREATE OR REPLACE TRIGGER {name}")) && sql.contains(table)
        });
        assert!(defined, "{table}.{name} has no file");
    }
}
