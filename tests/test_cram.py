

def test_a_store_from_before_references_gains_the_columns(tmp_path):
    import sqlite3

    from webapp import db as store

    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:  # the sources table as the first release created it
        conn.execute("CREATE TABLE sources (id TEXT PRIMARY KEY, access_url TEXT NOT NULL, md5 TEXT NOT NULL, "
                     "format TEXT NOT NULL, index_url TEXT NOT NULL DEFAULT '', access TEXT NOT NULL DEFAULT "
                     "'public', created_at TEXT NOT NULL)")
        conn.execute("INSERT INTO sources VALUES ('x', '/x.bam', ?, 'bam', '', 'public', 'then')", ("0" * 32,))
    opened = store.open_store(str(path))
    row = next(iter(opened.query("SELECT * FROM sources WHERE id = 'x'")))
    assert row["reference"] == "" and row["reference_md5"] == "" and row["md5"] == "0" * 32
    store.init_schema(opened)  # idempotent

