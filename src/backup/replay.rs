//! Reading an archive's members through: checking every row of every table, and handing rows
//! to a restore and files to the directory they go to when given.

use std::io::{Read, Write};

use serde_json::Value;

use super::archive::{self, ArchiveError, ArchiveReader, Entry, Manifest, MemberKind};
use super::files_out::FilesOut;
use super::BackupError;
use crate::store::backup::Column;
use crate::store::restore::{self, Restore};

/// The member being read.
enum Current {
    None,
    /// A table: its name, the bytes of an unfinished line, and the load once the column line
    /// was read.
    Table {
        name: String,
        line: Vec<u8>,
        columns: Option<Vec<Column>>,
        load: Option<Box<restore::Load>>,
        rows: u64,
    },
    File(Option<std::fs::File>),
}

/// Reads every member; rows go to `target` when given, files to `files` when given.
pub(super) async fn replay<R: Read>(
    reader: &mut ArchiveReader<R>,
    mut target: Option<&mut Restore>,
    mut files: Option<&mut FilesOut>,
) -> Result<Manifest, BackupError> {
    let mut current = Current::None;
    while let Some(event) = reader.next_event()? {
        match event {
            archive::Event::Begin { name, kind } => {
                current = match kind {
                    MemberKind::Table => Current::Table { name, line: Vec::new(), columns: None, load: None, rows: 0 },
                    MemberKind::Settings | MemberKind::Theme => Current::File(match files.as_deref_mut() {
                        Some(out) => Some(out.create(&name)?),
                        None => None,
                    }),
                };
            }
            archive::Event::Data(bytes) => match &mut current {
                Current::Table { name, line, columns, load, rows } => {
                    let mut rest: &[u8] = &bytes;
                    while let Some(nl) = rest.iter().position(|b| *b == b'\n') {
                        line.extend_from_slice(&rest[..nl]);
                        rest = &rest[nl + 1..];
                        let text = std::mem::take(line);
                        table_line(name, &text, columns, load, rows, target.as_deref_mut()).await?;
                    }
                    line.extend_from_slice(rest);
                    if line.len() > archive::MAX_ROW {
                        return Err(member_error(name, format!("a row is longer than {} bytes", archive::MAX_ROW)));
                    }
                }
                Current::File(Some(f)) => f.write_all(&bytes)?,
                Current::File(None) => {}
                Current::None => return Err(ArchiveError::Damaged("data outside a member".into()).into()),
            },
            archive::Event::End(entry) => {
                if let Current::Table { name, line, load, rows, .. } = std::mem::replace(&mut current, Current::None) {
                    end_table(&entry, &name, &line, load, rows, target.as_deref_mut()).await?;
                }
            }
        }
    }
    reader.manifest().cloned().ok_or_else(|| ArchiveError::Damaged("it has no manifest".into()).into())
}

pub(super) fn member_error(name: &str, detail: impl Into<String>) -> BackupError {
    ArchiveError::Member { name: name.to_string(), detail: detail.into() }.into()
}

async fn table_line(
    member: &str,
    text: &[u8],
    columns: &mut Option<Vec<Column>>,
    load: &mut Option<Box<restore::Load>>,
    rows: &mut u64,
    target: Option<&mut Restore>,
) -> Result<(), BackupError> {
    let Some(cols) = columns.as_ref() else {
        let head: Value =
            serde_json::from_slice(text).map_err(|e| member_error(member, format!("its first line: {e}")))?;
        let table = head["table"].as_str().unwrap_or_default().to_string();
        let list: Vec<Column> = serde_json::from_value(head["columns"].clone())
            .map_err(|e| member_error(member, format!("its column list: {e}")))?;
        if let Some(t) = target {
            *load = Some(Box::new(t.table(&table, &list)?));
        }
        *columns = Some(list);
        return Ok(());
    };
    let values: Vec<Value> =
        serde_json::from_slice(text).map_err(|e| member_error(member, format!("row {}: {e}", *rows + 1)))?;
    if values.len() != cols.len() {
        return Err(member_error(
            member,
            format!("row {} has {} values for {} columns", *rows + 1, values.len(), cols.len()),
        ));
    }
    *rows += 1;
    if let (Some(t), Some(l)) = (target, load.as_mut()) {
        t.row(l, values).await?;
    }
    Ok(())
}

async fn end_table(
    entry: &Entry,
    name: &str,
    line: &[u8],
    load: Option<Box<restore::Load>>,
    rows: u64,
    target: Option<&mut Restore>,
) -> Result<(), BackupError> {
    if !line.is_empty() {
        return Err(member_error(name, "its last row is cut off"));
    }
    if entry.rows != Some(rows) {
        return Err(member_error(name, format!("{rows} rows where its record says {:?}", entry.rows)));
    }
    if let (Some(t), Some(l)) = (target, load) {
        t.end_table(*l).await?;
    }
    Ok(())
}
