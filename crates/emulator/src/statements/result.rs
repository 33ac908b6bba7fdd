//! A statement's executed result: the Arrow batches as the engine produced them, the limits that
//! cut them (`row_limit`, `byte_limit`), and the chunk plan the manifest announces.
//!
//! Chunks are row ranges over the kept batches; [`ResultSet::slices`] yields the batch slices of a
//! chunk in small pieces so encoders never hold a whole chunk's text at once.

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

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

/// Accumulates engine batches under `row_limit` and `byte_limit`.
#[derive(Debug)]
pub struct Collector {
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    rows: u64,
    bytes: u64,
    row_limit: Option<u64>,
    byte_limit: Option<u64>,
    truncated: bool,
}

impl Collector {
    /// An empty collector for results of `schema`.
    pub fn new(schema: SchemaRef, row_limit: Option<u64>, byte_limit: Option<u64>) -> Self {
        Self {
            schema,
            batches: Vec::new(),
            rows: 0,
            bytes: 0,
            row_limit,
            byte_limit,
            truncated: false,
        }
    }

    /// Rows kept so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Estimated bytes kept so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Keeps as much of `batch` as the limits allow.
    pub fn push(&mut self, batch: RecordBatch) -> Pull {
        let n = batch.num_rows() as u64;
        if n == 0 {
            return Pull::More;
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
            let kept = if keep == n {
                batch
            } else {
                batch.slice(0, keep as usize)
            };
            self.bytes += if keep == n { size } else { batch_bytes(&kept) };
            self.rows += keep;
            self.batches.push(kept);
        }
        if self.truncated {
            Pull::Done
        } else {
            Pull::More
        }
    }

    /// The kept result, cut into chunks of at most `chunk_rows` rows and about `chunk_bytes` bytes.
    pub fn finish(self, chunk_rows: u64, chunk_bytes: u64) -> ResultSet {
        let mut starts = Vec::with_capacity(self.batches.len());
        let mut offset = 0u64;
        for b in &self.batches {
            starts.push(offset);
            offset += b.num_rows() as u64;
        }
        let chunks = plan_chunks(&self.batches, chunk_rows.max(1), chunk_bytes.max(1));
        ResultSet {
            schema: self.schema,
            batches: self.batches,
            starts,
            chunks,
            total_rows: self.rows,
            truncated: self.truncated,
        }
    }
}

fn plan_chunks(batches: &[RecordBatch], chunk_rows: u64, chunk_bytes: u64) -> Vec<ChunkInfo> {
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
    for batch in batches {
        let n = batch.num_rows() as u64;
        if n == 0 {
            continue;
        }
        let per_row = (batch_bytes(batch) / n).max(1);
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
    batches: Vec<RecordBatch>,
    starts: Vec<u64>,
    /// The chunk plan (byte counts filled in for EXTERNAL_LINKS).
    pub chunks: Vec<ChunkInfo>,
    /// Rows kept.
    pub total_rows: u64,
    /// Whether a limit dropped rows.
    pub truncated: bool,
}

impl ResultSet {
    /// The rows `offset..offset + count` as batch slices of at most [`PIECE_ROWS`] rows.
    pub fn slices(&self, offset: u64, count: u64) -> Vec<RecordBatch> {
        let mut out = Vec::new();
        let end = offset + count;
        let first = self
            .starts
            .partition_point(|s| *s <= offset)
            .saturating_sub(1);
        for (batch, start) in self.batches.iter().zip(&self.starts).skip(first) {
            let batch_end = start + batch.num_rows() as u64;
            if *start >= end {
                break;
            }
            let from = offset.max(*start);
            let to = end.min(batch_end);
            let mut at = from;
            while at < to {
                let len = (to - at).min(PIECE_ROWS as u64);
                out.push(batch.slice((at - start) as usize, len as usize));
                at += len;
            }
        }
        out
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
            if c.push(b.clone()) == Pull::Done {
                break;
            }
        }
        c
    }

    #[test]
    fn chunks_cover_every_row_once_across_batch_boundaries() {
        let batches = [batch(0, 7), batch(7, 10), batch(17, 3)];
        let result = collect(&batches, None, None).finish(4, u64::MAX);
        let counts: Vec<u64> = result.chunks.iter().map(|c| c.row_count).collect();
        assert_eq!(counts, [4, 4, 4, 4, 4]);
        let mut seen = Vec::new();
        for chunk in &result.chunks {
            for s in result.slices(chunk.row_offset, chunk.row_count) {
                let ids = s.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
                seen.extend(ids.values().iter().copied());
            }
        }
        assert_eq!(seen, (0..20).collect::<Vec<_>>());
    }

    #[test]
    fn byte_cap_splits_chunks() {
        // 8 bytes per Int64 row: a 64-byte cap gives 8-row chunks.
        let result = collect(&[batch(0, 20)], None, None).finish(1000, 64);
        let counts: Vec<u64> = result.chunks.iter().map(|c| c.row_count).collect();
        assert_eq!(counts, [8, 8, 4]);
    }

    #[test]
    fn row_limit_truncates_only_when_rows_were_dropped() {
        let exact = collect(&[batch(0, 5)], Some(5), None).finish(10, u64::MAX);
        assert!(!exact.truncated);
        assert_eq!(exact.total_rows, 5);
        let cut = collect(&[batch(0, 5), batch(5, 5)], Some(7), None).finish(10, u64::MAX);
        assert!(cut.truncated);
        assert_eq!(cut.total_rows, 7);
    }

    #[test]
    fn byte_limit_truncates() {
        let cut = collect(&[batch(0, 100)], None, Some(80)).finish(1000, u64::MAX);
        assert!(cut.truncated);
        assert_eq!(cut.total_rows, 10);
    }

    #[test]
    fn empty_result_has_no_chunks() {
        let result = Collector::new(batch(0, 0).schema(), None, None).finish(10, 10);
        assert!(result.chunks.is_empty());
        assert!(result.slices(0, 0).is_empty());
    }
}
