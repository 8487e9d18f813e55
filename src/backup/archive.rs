//! The container inside the age stream: a marker, a header (versions, source database), then
//! members (one per table, the settings, each theme file) written as length-prefixed records,
//! and last a manifest listing every member with its byte length and SHA-256.
//!
//! The manifest comes last so a backup streams: a table's length and checksum are known only
//! once its rows have been written, and nothing is staged on disk in the clear. The header
//! comes first so a restore can refuse an archive from a newer schema before it touches the
//! database. Each member's end record repeats its length and checksum, so a reader names the
//! damaged member as soon as it has read it.
//!
//! Record: one tag byte, a big-endian `u32` length, the payload. Tags: `H` header (JSON), `B`
//! member begins (JSON), `D` member data (at most [`CHUNK`] bytes), `E` member ends (JSON),
//! `Z` manifest (JSON), after which the stream must end. An authenticated archive's manifest
//! record ends with its MAC (see [`super::mac`]).

use std::io::{self, Read, Write};

use aws_lc_rs::digest;
use serde::{Deserialize, Serialize};

use super::mac::{self, AuthError, Authenticity, HeldKey, Policy, Presented};

/// First bytes of the decrypted content.
pub const MAGIC: &[u8] = b"GERBANG-BACKUP\n";
/// Version of this container layout; a reader refuses one it does not know.
pub const FORMAT: u32 = 1;
/// Data records are cut at this size.
pub const CHUNK: usize = 64 * 1024;
/// No record is larger: a damaged length must not make the reader allocate gigabytes.
const MAX_RECORD: u32 = 16 * 1024 * 1024;
/// The longest row a table member may hold. Real rows are a few KiB; the bound keeps a reader
/// from gathering an endless row of a crafted archive in memory.
pub const MAX_ROW: usize = 16 * 1024 * 1024;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub format: u32,
    /// The version of gerbang that wrote the archive.
    pub gerbang: String,
    /// The highest migration applied to the source database.
    pub schema: i64,
    /// `sqlite` or `postgres`.
    pub database: String,
    /// Unix seconds.
    pub created_at: i64,
    /// A value derived from the master key (not the key), so a restore can tell before it
    /// starts whether the master key it was given is the one the sealed values need.
    pub master_key_check: Option<String>,
    /// The ids of the master keys the archive's sealed values are under (more than one during
    /// a master-key rotation), so a restore refuses at once where one of them is missing.
    /// Absent from archives written before it existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub master_keys: Vec<String>,
    /// The id of the master key the archive's MAC is keyed from; absent from an archive
    /// without one (written before it existed, or without the master key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_key: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MemberKind {
    Table,
    Settings,
    Theme,
}

/// One member as the manifest lists it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub kind: MemberKind,
    pub length: u64,
    pub sha256: String,
    /// Rows of a table member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Manifest {
    pub header: Header,
    pub members: Vec<Entry>,
}

#[derive(Serialize, Deserialize)]
struct Begin {
    name: String,
    kind: MemberKind,
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("not a Gerbang backup: the decrypted content does not begin with the archive marker")]
    NotAnArchive,
    #[error("the archive's format version {0} is newer than this gerbang reads ({FORMAT})")]
    NewerFormat(u32),
    #[error("the archive is damaged or truncated: {0}")]
    Damaged(String),
    #[error("member `{name}` of the archive is damaged: {detail}")]
    Member { name: String, detail: String },
}

/// A read failure of the decrypted stream: age reports a truncated or altered payload this way.
fn damaged(e: io::Error) -> ArchiveError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        ArchiveError::Damaged("it ends early (truncated)".into())
    } else {
        ArchiveError::Damaged(format!("{e} (the encrypted data does not authenticate)"))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

struct Open {
    name: String,
    kind: MemberKind,
    length: u64,
    digest: digest::Context,
    rows: u64,
}

impl Open {
    fn new(name: String, kind: MemberKind) -> Open {
        Open { name, kind, length: 0, digest: digest::Context::new(&digest::SHA256), rows: 0 }
    }

    fn entry(self) -> Entry {
        let rows = (self.kind == MemberKind::Table).then_some(self.rows);
        Entry {
            name: self.name,
            kind: self.kind,
            length: self.length,
            sha256: hex(self.digest.finish().as_ref()),
            rows,
        }
    }
}

fn record(out: &mut impl Write, tag: u8, payload: &[u8]) -> io::Result<()> {
    let len = u32::try_from(payload.len()).map_err(|_| io::Error::other("record too large"))?;
    out.write_all(&[tag])?;
    out.write_all(&len.to_be_bytes())?;
    out.write_all(payload)
}

fn json_record(out: &mut impl Write, tag: u8, value: &impl Serialize) -> io::Result<()> {
    record(out, tag, &serde_json::to_vec(value).map_err(io::Error::other)?)
}

/// Writes an archive's content to `out` (the age stream writer).
pub struct ArchiveWriter<W: Write> {
    out: W,
    header: Header,
    /// The header record as written, and the key the MAC is computed with at the end.
    header_bytes: Vec<u8>,
    mac: Option<HeldKey>,
    members: Vec<Entry>,
    open: Option<Open>,
    buf: Vec<u8>,
}

impl<W: Write> ArchiveWriter<W> {
    /// An archive without a MAC (a backup run without the master key).
    pub fn new(out: W, header: Header) -> io::Result<Self> {
        Self::start(out, header, None)
    }

    /// An archive authenticated with a MAC keyed from `key`, which the header then names.
    pub fn authenticated(out: W, mut header: Header, key: HeldKey) -> io::Result<Self> {
        header.mac_key = Some(key.id().to_string());
        Self::start(out, header, Some(key))
    }

    fn start(mut out: W, header: Header, mac: Option<HeldKey>) -> io::Result<Self> {
        out.write_all(MAGIC)?;
        let header_bytes = serde_json::to_vec(&header).map_err(io::Error::other)?;
        record(&mut out, b'H', &header_bytes)?;
        let buf = Vec::with_capacity(CHUNK);
        Ok(ArchiveWriter { out, header, header_bytes, mac, members: Vec::new(), open: None, buf })
    }

    pub fn begin(&mut self, name: &str, kind: MemberKind) -> io::Result<()> {
        self.end()?;
        json_record(&mut self.out, b'B', &Begin { name: name.into(), kind })?;
        self.open = Some(Open::new(name.into(), kind));
        Ok(())
    }

    /// Appends to the open member.
    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        let open = self.open.as_mut().ok_or_else(|| io::Error::other("no member is open"))?;
        open.length += data.len() as u64;
        open.digest.update(data);
        self.buf.extend_from_slice(data);
        while self.buf.len() >= CHUNK {
            record(&mut self.out, b'D', &self.buf[..CHUNK])?;
            self.buf.drain(..CHUNK);
        }
        Ok(())
    }

    /// Appends one row (a JSON line) to the open table member.
    pub fn row(&mut self, line: &[u8]) -> io::Result<()> {
        if line.len() > MAX_ROW {
            let m = format!("a row of {} bytes is longer than an archive allows ({MAX_ROW})", line.len());
            return Err(io::Error::new(io::ErrorKind::InvalidData, m));
        }
        self.write(line)?;
        self.write(b"\n")?;
        if let Some(open) = self.open.as_mut() {
            open.rows += 1;
        }
        Ok(())
    }

    fn end(&mut self) -> io::Result<()> {
        if let Some(open) = self.open.take() {
            if !self.buf.is_empty() {
                record(&mut self.out, b'D', &self.buf)?;
                self.buf.clear();
            }
            let entry = open.entry();
            json_record(&mut self.out, b'E', &entry)?;
            self.members.push(entry);
        }
        Ok(())
    }

    /// Closes the last member and writes the manifest; returns the output to be finished.
    pub fn finish(mut self) -> io::Result<(W, Manifest)> {
        self.end()?;
        let manifest = Manifest { header: self.header, members: self.members };
        let bytes = serde_json::to_vec(&manifest).map_err(io::Error::other)?;
        let payload = match &self.mac {
            Some(key) => mac::splice(key, &self.header_bytes, &bytes)?,
            None => bytes,
        };
        record(&mut self.out, b'Z', &payload)?;
        Ok((self.out, manifest))
    }
}

/// What the reader found next.
pub enum Event {
    Begin {
        name: String,
        kind: MemberKind,
    },
    Data(Vec<u8>),
    /// The member ended and its length and checksum were found right.
    End(Entry),
}

/// Reads and checks an archive's content: every member against its end record, the manifest
/// against the members, and that nothing follows the manifest.
pub struct ArchiveReader<R: Read> {
    input: R,
    header: Header,
    /// The header record as read: what the MAC covers.
    header_bytes: Vec<u8>,
    members: Vec<Entry>,
    open: Option<Open>,
    manifest: Option<Manifest>,
    presented: Option<Presented>,
}

impl<R: Read> ArchiveReader<R> {
    pub fn open(mut input: R) -> Result<Self, ArchiveError> {
        let mut magic = [0u8; MAGIC.len()];
        input.read_exact(&mut magic).map_err(damaged)?;
        if magic != MAGIC {
            return Err(ArchiveError::NotAnArchive);
        }
        let (tag, payload) = read_record(&mut input)?.ok_or(ArchiveError::Damaged("it has no header".into()))?;
        if tag != b'H' {
            return Err(ArchiveError::Damaged("it has no header".into()));
        }
        let header: Header = parse(&payload, "header")?;
        if header.format > FORMAT {
            return Err(ArchiveError::NewerFormat(header.format));
        }
        Ok(ArchiveReader {
            input,
            header,
            header_bytes: payload,
            members: Vec::new(),
            open: None,
            manifest: None,
            presented: None,
        })
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The next event; `None` once the manifest was read and checked and the stream ended.
    pub fn next_event(&mut self) -> Result<Option<Event>, ArchiveError> {
        if self.manifest.is_some() {
            return Ok(None);
        }
        let Some((tag, payload)) = read_record(&mut self.input)? else {
            return Err(ArchiveError::Damaged("it ends before its manifest (truncated)".into()));
        };
        match (tag, self.open.as_mut()) {
            (b'D', Some(open)) => {
                open.length += payload.len() as u64;
                open.digest.update(&payload);
                Ok(Some(Event::Data(payload)))
            }
            (b'E', Some(_)) => {
                let claimed: Entry = parse(&payload, "member end")?;
                let open = self.open.take().ok_or(ArchiveError::Damaged("records out of order".into()))?;
                let name = open.name.clone();
                let mut found = open.entry();
                found.rows = claimed.rows;
                if claimed.name != name || claimed.length != found.length || claimed.sha256 != found.sha256 {
                    let detail = format!(
                        "{} bytes with SHA-256 {}, but its record says {} bytes with SHA-256 {}",
                        found.length, found.sha256, claimed.length, claimed.sha256
                    );
                    return Err(ArchiveError::Member { name, detail });
                }
                self.members.push(found.clone());
                Ok(Some(Event::End(found)))
            }
            (b'B', None) => {
                let b: Begin = parse(&payload, "member start")?;
                self.open = Some(Open::new(b.name.clone(), b.kind));
                Ok(Some(Event::Begin { name: b.name, kind: b.kind }))
            }
            (b'Z', None) => {
                let m: Manifest = parse(&payload, "manifest")?;
                let presented = mac::presented(&payload, parse(&payload, "manifest")?);
                if m.header != self.header {
                    return Err(ArchiveError::Damaged("the manifest's header differs from the archive's".into()));
                }
                if m.members != self.members {
                    let listed: Vec<&str> = m.members.iter().map(|e| e.name.as_str()).collect();
                    let found: Vec<&str> = self.members.iter().map(|e| e.name.as_str()).collect();
                    let detail = match listed.iter().zip(&found).position(|(a, b)| a != b) {
                        Some(i) => format!("member `{}` differs from the manifest", listed[i]),
                        None if listed == found => {
                            let bad = m.members.iter().zip(&self.members).find(|(a, b)| a != b);
                            format!(
                                "member `{}` differs from the manifest",
                                bad.map(|(a, _)| a.name.as_str()).unwrap_or("?")
                            )
                        }
                        None => {
                            format!("the manifest lists {} members, the archive holds {}", listed.len(), found.len())
                        }
                    };
                    return Err(ArchiveError::Damaged(detail));
                }
                let mut rest = [0u8; 1];
                match self.input.read(&mut rest) {
                    Ok(0) => {}
                    Ok(_) => return Err(ArchiveError::Damaged("data follows the manifest".into())),
                    Err(e) => return Err(damaged(e)),
                }
                self.manifest = Some(m);
                self.presented = presented;
                Ok(None)
            }
            _ => Err(ArchiveError::Damaged(format!("unexpected record `{}`", char::from(tag).escape_default()))),
        }
    }

    /// The manifest, once [`next_event`](Self::next_event) returned `None`.
    pub fn manifest(&self) -> Option<&Manifest> {
        self.manifest.as_ref()
    }

    /// Whether the archive is authentic under `policy`: refused where the header already
    /// tells, before any member is read.
    pub fn precheck(&self, policy: &Policy) -> Result<(), AuthError> {
        mac::precheck(&self.header, policy)
    }

    /// The verdict on the archive's authenticity, once the manifest was read and checked.
    pub fn authenticity(&self, policy: &Policy) -> Result<Authenticity, AuthError> {
        if self.manifest.is_none() {
            return Err(AuthError::Forged);
        }
        mac::check(&self.header, &self.header_bytes, self.presented.as_ref(), policy)
    }
}

fn parse<T: serde::de::DeserializeOwned>(payload: &[u8], what: &str) -> Result<T, ArchiveError> {
    serde_json::from_slice(payload).map_err(|e| ArchiveError::Damaged(format!("its {what} does not parse: {e}")))
}

/// One record, or `None` at a clean end of stream (before a tag byte).
fn read_record(input: &mut impl Read) -> Result<Option<(u8, Vec<u8>)>, ArchiveError> {
    let mut tag = [0u8; 1];
    loop {
        match input.read(&mut tag) {
            Ok(0) => return Ok(None),
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(damaged(e)),
        }
    }
    let mut len = [0u8; 4];
    input.read_exact(&mut len).map_err(damaged)?;
    let len = u32::from_be_bytes(len);
    if len > MAX_RECORD {
        return Err(ArchiveError::Damaged(format!("a record claims {len} bytes")));
    }
    let mut payload = vec![0u8; len as usize];
    input.read_exact(&mut payload).map_err(damaged)?;
    Ok(Some((tag[0], payload)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            format: FORMAT,
            gerbang: "0.0.0".into(),
            schema: 20,
            database: "sqlite".into(),
            created_at: 1,
            master_key_check: None,
            master_keys: Vec::new(),
            mac_key: None,
        }
    }

    fn sample() -> Vec<u8> {
        let mut w = ArchiveWriter::new(Vec::new(), header()).unwrap();
        w.begin("tables/a", MemberKind::Table).unwrap();
        w.row(b"[1]").unwrap();
        w.row(&vec![b'x'; CHUNK * 2]).unwrap();
        w.begin("settings.toml", MemberKind::Settings).unwrap();
        w.write(b"issuer = \"x\"\n").unwrap();
        w.finish().unwrap().0
    }

    fn read_all(bytes: &[u8]) -> Result<Manifest, ArchiveError> {
        let mut r = ArchiveReader::open(bytes)?;
        while r.next_event()?.is_some() {}
        Ok(r.manifest().cloned().unwrap())
    }

    #[test]
    fn round_trip_lists_members_with_rows() {
        let m = read_all(&sample()).unwrap();
        assert_eq!(m.members.len(), 2);
        assert_eq!(m.members[0].rows, Some(2));
        assert_eq!(m.members[0].length, 4 + (CHUNK * 2 + 1) as u64);
        assert_eq!(m.members[1].rows, None);
    }

    #[test]
    fn a_changed_byte_names_the_member_and_a_cut_is_truncation() {
        let mut bytes = sample();
        let at = bytes.windows(3).position(|w| w == b"[1]").unwrap();
        bytes[at + 1] = b'2';
        let e = read_all(&bytes).unwrap_err().to_string();
        assert!(e.starts_with("member `tables/a` of the archive is damaged"), "{e}");
        let bytes = sample();
        let e = read_all(&bytes[..bytes.len() - 10]).unwrap_err().to_string();
        assert_eq!(e, "the archive is damaged or truncated: it ends early (truncated)");
        let e = read_all(b"PK\x03\x04 something else").unwrap_err().to_string();
        assert!(e.starts_with("not a Gerbang backup"), "{e}");
    }
}
