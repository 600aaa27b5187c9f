package consumer

import (
	"context"
	"slices"
)

// recordFailures is recordFailure for the messages of a batch, in one
// statement: it returns each one's count so far, by stream sequence.
func (c *Consumer) recordFailures(ctx context.Context, ps []pending, cause error) (map[uint64]int, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.DBTimeout)
	defer cancel()
	seqs := streamSeqs(ps, false)
	rows, err := c.pool.Query(ctx, `
		INSERT INTO consumer_failures (consumer, stream, stream_seq, failures, last_error)
		SELECT $1, $2, seq, 1, $4 FROM unnest($3::bigint[]) AS seq ORDER BY seq
		ON CONFLICT (consumer, stream, stream_seq)
		DO UPDATE SET failures = consumer_failures.failures + 1, last_error = excluded.last_error, updated_at = now()
		RETURNING stream_seq, failures`, c.cfg.Durable, ps[0].md.Stream, seqs, truncate(cause.Error(), 1000))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	counts := make(map[uint64]int, len(ps))
	for rows.Next() {
		var seq int64
		var n int
		if err := rows.Scan(&seq, &n); err != nil {
			return nil, err
		}
		counts[uint64(seq)] = n
	}
	return counts, rows.Err()
}

// forgetAll is forget for the messages of a batch, in one statement, and
// none when no message was delivered before.
func (c *Consumer) forgetAll(ctx context.Context, ps []pending) {
	seqs := streamSeqs(ps, true)
	if len(seqs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.DBTimeout)
	defer cancel()
	if _, err := c.pool.Exec(ctx, `DELETE FROM consumer_failures WHERE consumer = $1 AND stream = $2 AND stream_seq = ANY($3)`,
		c.cfg.Durable, ps[0].md.Stream, seqs); err != nil {
		c.log.Debug("could not clear failure counts", "err", err)
	}
}

// streamSeqs returns the sorted stream sequences of ps (only of those
// delivered more than once, if redelivered).
func streamSeqs(ps []pending, redelivered bool) []int64 {
	seqs := make([]int64, 0, len(ps))
	for _, p := range ps {
		if !redelivered || p.md.NumDelivered > 1 {
			seqs = append(seqs, int64(p.md.Sequence.Stream))
		}
	}
	slices.Sort(seqs)
	return seqs
}
