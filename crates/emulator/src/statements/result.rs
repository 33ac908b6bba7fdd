//! A statement's executed result: the Arrow batches as the engine produced them, the limits that
//! cut them (`row_limit`, `byte_limit`), and the chunk plan the manifest announces.
//!
//! Chunks are row ranges over the kept batches; [`ResultSet::slices`] yields the batch slices of a
//! chunk in small pieces so encoders never hold a whole chunk's text at once. Results larger
//! than the spill threshold move to an Arrow IPC file in the temp directory and are read back
//! batch by batch.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::ipc::reader::FileReader;
use arrow::ipc::writer::FileWriter;

use super::model::ChunkInfo;

/// Rows per piece handed to an encoder: bounds the memory of one streamed body part.
pub const PIECE_ROWS: usize = 4096;

/// Estimated size of a batch's rows, counting only the slice the batch covers.
pub fn batch_bytes(batch: &RecordBatch) -> u64 {
    batch
        .columns()
        .iter()
        .map(|c| {
            c.to_data()
                .get_slice_memory_size()
                .unwrap_or_else(|_| c.get_array_memory_size()) as u64
        })
        .sum()
}

/// Whether to keep pulling batches from the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pull {
    /// Room left.
    More,
    /// A limit was reached; stop executing.
    Done,
}

/// Prefix of spill file names: `brickwire-result-{pid}-{random}.arrow`.
const SPILL_PREFIX: &str = "brickwire-result-";

/// A result file in the temp directory, removed when the result is dropped.
///
/// A process that is killed drops nothing, so its files would stay behind (a killed emulator
/// serving a 10M-row result left 300 MB each time). The name carries the process id, and the
/// first spill of a process removes the files of processes that no longer run.
#[derive(Debug)]
struct SpillFile {
    path: PathBuf,
}

impl SpillFile {
    fn create() -> Result<(Self, File), ArrowError> {
        static SWEPT: std::sync::Once = std::sync::Once::new();
        let dir = std::env::temp_dir();
        SWEPT.call_once(|| remove_orphaned_spill_files(&dir));
        let name = format!(
            "{SPILL_PREFIX}{}-{:016x}.arrow",
            std::process::id(),
            rand::random::<u64>()
        );
        let path = dir.join(name);
        let file = File::create_new(&path)?;
        Ok((Self { path }, file))
    }
}

/// Removes the spill files in `dir` whose process is gone. Only where a process can be looked
/// up (`/proc`); elsewhere files of killed processes stay, as before.
fn remove_orphaned_spill_files(dir: &std::path::Path) {
    if !std::path::Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = spill_file_pid(&name.to_string_lossy()) else {
            continue;
        };
        if !std::path::Path::new("/proc").join(pid.to_string()).exists() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The process id in a spill file's name, `None` for any other name.
fn spill_file_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(SPILL_PREFIX)?.strip_suffix(".arrow")?;
    let (pid, random) = rest.split_once('-')?;
    (random.len() == 16 && random.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| pid.parse().ok())
        .flatten()
}

impl Drop for SpillFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Where the kept batches live.
enum Storage {
    Memory(Vec<RecordBatch>),
    /// An Arrow IPC file, read back batch by batch.
    File(SpillFile),
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Memory(b) => write!(f, "Memory({} batches)", b.len()),
            Self::File(file) => write!(f, "File({})", file.path.display()),
        }
    }
}

/// Accumulates engine batches under `row_limit` and `byte_limit`, moving them to a temp file
/// once they outgrow the spill threshold.
pub struct Collector {
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    spill: Option<(SpillFile, FileWriter<BufWriter<File>>)>,
    spill_above: u64,
    /// Rows and estimated bytes per row of every kept batch, in order.
    shape: Vec<(u64, u64)>,
    rows: u64,
    bytes: u64,
    row_limit: Option<u64>,
    byte_limit: Option<u64>,
    truncated: bool,
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector")
            .field("rows", &self.rows)
            .field("bytes", &self.bytes)
            .field("spilled", &self.spill.is_some())
            .finish()
    }
}

impl Collector {
    /// An empty collector for results of `schema`, kept in memory.
    pub fn new(schema: SchemaRef, row_limit: Option<u64>, byte_limit: Option<u64>) -> Self {
        Self {
            schema,
            batches: Vec::new(),
            spill: None,
            spill_above: u64::MAX,
            shape: Vec::new(),
            rows: 0,
            bytes: 0,
            row_limit,
            byte_limit,
            truncated: false,
        }
    }

    /// Moves the result to an Arrow IPC temp file once it holds more than `bytes`.
    pub fn spill_above(mut self, bytes: u64) -> Self {
        self.spill_above = bytes;
        self
    }

    /// Rows kept so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Estimated bytes kept so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Whether the kept batches went to a temp file.
    pub fn spilled(&self) -> bool {
        self.spill.is_some()
    }

    /// Keeps as much of `batch` as the limits allow.
    pub fn push(&mut self, batch: RecordBatch) -> Result<Pull, ArrowError> {
        let n = batch.num_rows() as u64;
        if n == 0 {
            return Ok(Pull::More);
        }
        let mut keep = n;
        if let Some(limit) = self.row_limit {
            keep = keep.min(limit.saturating_sub(self.rows));
        }
        let size = batch_bytes(&batch);
        if let Some(limit) = self.byte_limit {
            let room = limit.saturating_sub(self.bytes);
            if size > room {
                let per_row = (size / n).max(1);
                keep = keep.min(room / per_row);
            }
        }
        if keep < n {
            self.truncated = true;
        }
        if keep > 0 {
            let (kept, kept_size) = if keep == n {
                (batch, size)
            } else {
                let kept = batch.slice(0, keep as usize);
                let kept_size = batch_bytes(&kept);
                (kept, kept_size)
            };
            self.bytes += kept_size;
            self.rows += keep;
            self.shape.push((keep, (kept_size / keep).max(1)));
            self.store(kept)?;
        }
        Ok(if self.truncated {
            Pull::Done
        } else {
            Pull::More
        })
    }

    fn store(&mut self, batch: RecordBatch) -> Result<(), ArrowError> {
        if self.spill.is_none() && self.bytes > self.spill_above {
            let (file, handle) = SpillFile::create()?;
            let writer = FileWriter::try_new_buffered(handle, &self.schema)?;
            self.spill = Some((file, writer));
            for b in std::mem::take(&mut self.batches) {
                self.spill.as_mut().expect("just set").1.write(&b)?;
            }
        }
        match &mut self.spill {
            Some((_, writer)) => writer.write(&batch),
            None => {
                self.batches.push(batch);
                Ok(())
            }
        }
    }

    /// The kept result, cut into chunks of at most `chunk_rows` rows and about `chunk_bytes` bytes.
    pub fn finish(self, chunk_rows: u64, chunk_bytes: u64) -> Result<ResultSet, ArrowError> {
        let storage = match self.spill {
            Some((file, mut writer)) => {
                writer.finish()?;
                drop(writer);
                Storage::File(file)
            }
            None => Storage::Memory(self.batches),
        };
        let mut starts = Vec::with_capacity(self.shape.len());
        let mut offset = 0u64;
        for (rows, _) in &self.shape {
            starts.push(offset);
            offset += rows;
        }
        let chunks = plan_chunks(&self.shape, chunk_rows.max(1), chunk_bytes.max(1));
        Ok(ResultSet {
            schema: self.schema,
            storage,
            starts,
            shape: self.shape,
            chunks,
            total_rows: self.rows,
            truncated: self.truncated,
        })
    }
}

fn plan_chunks(shape: &[(u64, u64)], chunk_rows: u64, chunk_bytes: u64) -> Vec<ChunkInfo> {
    let mut chunks = Vec::new();
    let mut offset = 0u64;
    let mut rows = 0u64;
    let mut bytes = 0u64;
    let close = |chunks: &mut Vec<ChunkInfo>, offset: &mut u64, rows: &mut u64, bytes: &mut u64| {
        chunks.push(ChunkInfo {
            chunk_index: chunks.len(),
            row_offset: *offset,
            row_count: *rows,
            byte_count: None,
        });
        *offset += *rows;
        *rows = 0;
        *bytes = 0;
    };
    for &(n, per_row) in shape {
        let mut remaining = n;
        while remaining > 0 {
            let by_bytes = chunk_bytes.saturating_sub(bytes) / per_row;
            // A chunk always takes at least one row, even a row larger than the byte cap.
            let by_bytes = if rows == 0 { by_bytes.max(1) } else { by_bytes };
            let take = remaining.min(chunk_rows - rows).min(by_bytes);
            if take == 0 {
                close(&mut chunks, &mut offset, &mut rows, &mut bytes);
                continue;
            }
            rows += take;
            bytes += take * per_row;
            remaining -= take;
            if rows == chunk_rows || bytes >= chunk_bytes {
                close(&mut chunks, &mut offset, &mut rows, &mut bytes);
            }
        }
    }
    if rows > 0 {
        close(&mut chunks, &mut offset, &mut rows, &mut bytes);
    }
    chunks
}

/// The result of a succeeded statement.
#[derive(Debug)]
pub struct ResultSet {
    /// Result columns.
    pub schema: SchemaRef,
    storage: Storage,
    starts: Vec<u64>,
    shape: Vec<(u64, u64)>,
    /// The chunk plan (byte counts filled in for EXTERNAL_LINKS).
    pub chunks: Vec<ChunkInfo>,
    /// Rows kept.
    pub total_rows: u64,
    /// Whether a limit dropped rows.
    pub truncated: bool,
}

impl ResultSet {
    /// Whether the batches live in a temp file rather than in memory.
    pub fn is_spilled(&self) -> bool {
        matches!(self.storage, Storage::File(_))
    }

    /// The rows `offset..offset + count` as batch slices of at most [`PIECE_ROWS`] rows.
    pub fn slices(&self, offset: u64, count: u64) -> Result<Vec<RecordBatch>, ArrowError> {
        let mut out = Vec::new();
        let end = offset + count;
        let first = self
            .starts
            .partition_point(|s| *s <= offset)
            .saturating_sub(1);
        let mut reader = match &self.storage {
            Storage::File(file) if count > 0 => {
                Some(FileReader::try_new_buffered(File::open(&file.path)?, None)?)
            }
            _ => None,
        };
        for index in first..self.starts.len() {
            let start = self.starts[index];
            if start >= end {
                break;
            }
            let batch_end = start + self.shape[index].0;
            let from = offset.max(start);
            let to = end.min(batch_end);
            if from >= to {
                continue;
            }
            let batch = match (&self.storage, reader.as_mut()) {
                (Storage::Memory(batches), _) => batches[index].clone(),
                (Storage::File(_), Some(reader)) => {
                    reader.set_index(index)?;
                    reader.next().ok_or_else(|| {
                        ArrowError::IpcError(format!("result file lacks batch {index}"))
                    })??
                }
                (Storage::File(_), None) => unreachable!("reader opened for a non-empty range"),
            };
            let mut at = from;
            while at < to {
                let len = (to - at).min(PIECE_ROWS as u64);
                out.push(batch.slice((at - start) as usize, len as usize));
                at += len;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch(from: i64, n: i64) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
        RecordBatch::try_new(
            schema,
            vec![Arc::new(Int64Array::from_iter_values(from..from + n))],
        )
        .unwrap()
    }

    fn collect(batches: &[RecordBatch], rows: Option<u64>, bytes: Option<u64>) -> Collector {
        let mut c = Collector::new(batches[0].schema(), rows, bytes);
        for b in batches {
            if c.push(b.clone()).unwrap() == Pull::Done {
                break;
            }
        }
        c
    }

    fn ids(result: &ResultSet) -> Vec<i64> {
        let mut seen = Vec::new();
        for chunk in &result.chunks {
            for s in result.slices(chunk.row_offset, chunk.row_count).unwrap() {
                assert!(s.num_rows() <= PIECE_ROWS);
                let ids = s.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
                seen.extend(ids.values().iter().copied());
            }
        }
        seen
    }

    #[test]
    fn chunks_cover_every_row_once_across_batch_boundaries() {
        let batches = [batch(0, 7), batch(7, 10), batch(17, 3)];
        let result = collect(&batches, None, None).finish(4, u64::MAX).unwrap();
        let counts: Vec<u64> = result.chunks.iter().map(|c| c.row_count).collect();
        assert_eq!(counts, [4, 4, 4, 4, 4]);
        assert!(!result.is_spilled());
        assert_eq!(ids(&result), (0..20).collect::<Vec<_>>());
    }

    #[test]
    fn spill_files_of_processes_that_are_gone_are_removed() {
        assert_eq!(
            spill_file_pid("brickwire-result-42-00000000000000ff.arrow"),
            Some(42)
        );
        assert_eq!(
            spill_file_pid("brickwire-result-00000000000000ff.arrow"),
            None
        );
        assert_eq!(spill_file_pid("brickwire-result-42-xyz.arrow"), None);
        assert_eq!(spill_file_pid("other-42-00000000000000ff.arrow"), None);
        if !std::path::Path::new("/proc/self").exists() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        // No process has the largest pid Linux allows plus one; this one runs.
        let orphan = dir
            .path()
            .join("brickwire-result-4194305-00000000000000ff.arrow");
        let alive = dir.path().join(format!(
            "brickwire-result-{}-00000000000000ff.arrow",
            std::process::id()
        ));
        let unrelated = dir.path().join("brickwire-result-notes.txt");
        for path in [&orphan, &alive, &unrelated] {
            std::fs::write(path, b"x").unwrap();
        }
        remove_orphaned_spill_files(dir.path());
        assert!(!orphan.exists());
        assert!(alive.exists() && unrelated.exists());
    }

    #[test]
    fn large_results_spill_to_a_file_that_goes_away_with_them() {
        let mut c = Collector::new(batch(0, 0).schema(), None, None).spill_above(100);
        for from in (0..20_000).step_by(5000) {
            c.push(batch(from, 5000)).unwrap();
        }
        assert!(c.spilled());
        let result = c.finish(3000, u64::MAX).unwrap();
        assert!(result.is_spilled());
        assert_eq!(result.chunks.len(), 7);
        assert_eq!(ids(&result), (0..20_000).collect::<Vec<_>>());
        let Storage::File(file) = &result.storage else {
            unreachable!()
        };
        let path = file.path.clone();
        assert!(path.exists());
        drop(result);
        assert!(!path.exists());
    }

    #[test]
    fn byte_cap_splits_chunks() {
        // 8 bytes per Int64 row: a 64-byte cap gives 8-row chunks.
        let result = collect(&[batch(0, 20)], None, None)
            .finish(1000, 64)
            .unwrap();
        let counts: Vec<u64> = result.chunks.iter().map(|c| c.row_count).collect();
        assert_eq!(counts, [8, 8, 4]);
    }

    #[test]
    fn row_limit_truncates_only_when_rows_were_dropped() {
        let exact = collect(&[batch(0, 5)], Some(5), None)
            .finish(10, u64::MAX)
            .unwrap();
        assert!(!exact.truncated);
        assert_eq!(exact.total_rows, 5);
        let cut = collect(&[batch(0, 5), batch(5, 5)], Some(7), None)
            .finish(10, u64::MAX)
            .unwrap();
        assert!(cut.truncated);
        assert_eq!(cut.total_rows, 7);
    }

    #[test]
    fn byte_limit_truncates() {
        let cut = collect(&[batch(0, 100)], None, Some(80))
            .finish(1000, u64::MAX)
            .unwrap();
        assert!(cut.truncated);
        assert_eq!(cut.total_rows, 10);
    }

    #[test]
    fn empty_result_has_no_chunks() {
        let result = Collector::new(batch(0, 0).schema(), None, None)
            .finish(10, 10)
            .unwrap();
        assert!(result.chunks.is_empty());
        assert!(result.slices(0, 0).unwrap().is_empty());
    }
}
