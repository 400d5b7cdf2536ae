package worker

import (
	"context"
	"sync/atomic"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dedup"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dlq"
)

// ioJob is one core turn's sent-log records (one per request TikTok accepted) and
// dead letters, written together; the messages that wait for it are acked after.
type ioJob struct {
	records   []dedup.Record
	leaders   []*leader // accepted in this job's records
	letters   []dlq.Letter
	msgs      []*inMsg
	appendErr error
	dlqErr    error
}

func (j *ioJob) empty() bool { return len(j.records) == 0 && len(j.letters) == 0 }

// join makes m wait for j.
func (j *ioJob) join(m *inMsg) {
	if m.job != j {
		m.job = j
		m.io++
		j.msgs = append(j.msgs, m)
	}
}

// recorder runs the IO jobs. job is the one the current core turn fills; appended
// counts the jobs whose records the store acknowledged (the copies' purge epoch).
type recorder struct {
	job      *ioJob
	free     []*ioJob
	running  int
	appended atomic.Uint64
}

func newRecorder() recorder { return recorder{job: new(ioJob)} }

// start hands the turn's job, when it has anything, to a goroutine of its own.
func (p *pipeline) startIO() {
	r := &p.rec
	if r.job.empty() {
		return
	}
	j := r.job
	if n := len(r.free); n > 0 {
		r.job = r.free[n-1]
		r.free = r.free[:n-1]
	} else {
		r.job = new(ioJob)
	}
	r.running++
	go p.runIO(j)
}

// runIO appends the job's records and publishes its dead letters, concurrently, and
// reports back once the server acknowledged both (or either failed).
func (p *pipeline) runIO(j *ioJob) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, rec := range j.records {
			if err := p.w.deps.Dedup.Append(p.ioCtx, rec); err != nil {
				j.appendErr = err
				return
			}
		}
	}()
	if len(j.letters) > 0 {
		j.dlqErr = p.w.deps.DLQ.Publish(p.ioCtx, j.letters)
	}
	<-done
	select {
	case p.ioDoneCh <- j:
	case <-p.quit:
	}
}

// ioDone applies a finished job: its messages may now be acked, or go back when the
// sent log or the DLQ failed.
func (p *pipeline) ioDone(j *ioJob) {
	r := &p.rec
	r.running--
	if len(j.records) > 0 {
		ok := j.appendErr == nil
		var epoch uint64
		if ok {
			epoch = r.appended.Add(1)
		} else {
			p.warn(j.appendErr, "the sent log did not record accepted events; handing their messages back (TikTok drops the repeats)")
		}
		p.copies.recorded(j.leaders, epoch, ok)
	}
	if j.dlqErr != nil {
		p.warn(j.dlqErr, "dead-letter publish failed; handing the messages back")
	}
	failed := j.appendErr != nil || j.dlqErr != nil
	for _, m := range j.msgs {
		m.io--
		m.job = nil
		if failed {
			m.raise(hbStore)
		}
		p.check(m)
	}
	clear(j.records)
	clear(j.leaders)
	clear(j.letters)
	clear(j.msgs)
	*j = ioJob{records: j.records[:0], leaders: j.leaders[:0], letters: j.letters[:0], msgs: j.msgs[:0]}
	r.free = append(r.free, j)
}

// appendProbe records the probe's accepted event (outside any job: the probe holds
// no message).
func (p *pipeline) appendProbe(ctx context.Context, rec dedup.Record) error {
	return p.w.deps.Dedup.Append(ctx, rec)
}
