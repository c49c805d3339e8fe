package main

import (
	"fmt"
	"github.com/runnel-io/runnel/benchmarks/internal/report"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// benchRecovery leaves a crashed log of about n bytes in dir (a child
// appends and is SIGKILLed), then times Open in a fresh process, cold and
// warm. The peer reads the same unflushed bytes and computes their
// CRC-32C: the least a verifying recovery scan has to do.
func benchRecovery(dir string, n int64, rounds int, cold bool) ([]row, error) {
	if err := crashWrite(dir, n); err != nil {
		return nil, err
	}
	tail, err := unflushedTail(dir)
	if err != nil {
		return nil, err
	}
	var tailBytes int64
	for _, s := range tail {
		tailBytes += s.size
	}
	viaLog := func() (time.Duration, error) {
		r, err := runRecoverChild(dir)
		return time.Duration(r.OpenNs), err
	}
	viaFile := func() (time.Duration, error) {
		start := time.Now()
		for _, s := range tail {
			if err := readCRC(s.path); err != nil {
				return 0, err
			}
		}
		return time.Since(start), nil
	}
	figure := func(temp string, k int) string {
		return fmt.Sprintf("Recovery after SIGKILL: Open in a fresh process, per GiB of unflushed tail (%s tail in %d segment(s)), %s, median of %d",
			report.Bytes(tailBytes), len(tail), temp, k)
	}
	var rows []row
	if cold {
		// As in benchSeqRead, an untimed cold read first.
		if err := dropCaches(); err != nil {
			return nil, err
		}
		if _, err := viaFile(); err != nil {
			return nil, err
		}
		ld, fd, err := alternate(viaLog, viaFile, rounds, dropCaches)
		if err != nil {
			return nil, err
		}
		rows = append(rows, recoveryRow(figure("cold: caches dropped first", rounds), tailBytes, ld, fd))
	}
	ld, fd, err := alternate(viaLog, viaFile, rounds, nil)
	if err != nil {
		return nil, err
	}
	return append(rows, recoveryRow(figure("page cache warm", rounds), tailBytes, ld, fd)), nil
}

func recoveryRow(figure string, tail int64, ld, fd []time.Duration) row {
	gib := float64(tail) / (1 << 30)
	perGiB := func(ds []time.Duration) string {
		s := fmt.Sprintf("%.2f s/GiB", report.Median(ds).Seconds()/gib)
		if len(ds) > 1 {
			s += fmt.Sprintf(" (range %.2f–%.2f)", slices.Min(ds).Seconds()/gib, slices.Max(ds).Seconds()/gib)
		}
		return s
	}
	l, f := report.Median(ld), report.Median(fd)
	return info(figure, perGiB(ld)+fmt.Sprintf(", Open %s", report.Dur(l)), "read + CRC-32C: "+perGiB(fd), fmt.Sprintf("%.2f", f.Seconds()/l.Seconds()))
}

// unflushedTail is the segments a recovery must scan: those that may hold
// offsets at or above the recovery point (the log's "recovery-point" file,
// 0 when missing).
func unflushedTail(dir string) ([]segmentFile, error) {
	segs, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	var rp int64
	data, err := os.ReadFile(filepath.Join(dir, "recovery-point"))
	switch {
	case err == nil:
		if rp, err = strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64); err != nil {
			return nil, fmt.Errorf("recovery-point: %w", err)
		}
	case !os.IsNotExist(err):
		return nil, err
	}
	var tail []segmentFile
	for i, s := range segs {
		next := int64(math.MaxInt64)
		if i+1 < len(segs) {
			next = segs[i+1].base
		}
		if next > rp {
			tail = append(tail, s)
		}
	}
	return tail, nil
}

// readCRC reads a file in 1 MiB chunks and checksums it.
func readCRC(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	var pos int64
	var crc uint32
	for {
		n, err := f.ReadAt(buf, pos)
		crc = crc32.Update(crc, castagnoli, buf[:n])
		pos += int64(n)
		if err != nil || n < len(buf) {
			sink = crc
			return nil
		}
	}
}

// sink keeps the checksum from being optimised away.
var sink uint32
