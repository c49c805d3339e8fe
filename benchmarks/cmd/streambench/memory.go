package main

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/runnel-io/runnel/state"
	"github.com/runnel-io/runnel/stream"
	"github.com/runnel-io/runnel/stream/serde"
)

// heap is the live heap after a full collection.
func heap() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// memory measures (1) the in-memory store holding p.storeKeys keys of a
// count (8-byte keys, 8-byte values), and (2) an idle App's heap with one
// task and with p.tasks tasks of the count topology, every topic created
// beforehand so that only the App's own memory is counted.
func memory(ctx context.Context, p params, addr string, r *results) error {
	before := heap()
	kv := state.NewMemory()
	for i := 0; i < p.storeKeys; i++ {
		k := []byte("k" + strconv.Itoa(10_000_000 + i)[1:])
		v, _ := serde.Int64.Encode(int64(i))
		if err := kv.Put(k, v); err != nil {
			return err
		}
	}
	r.storeBytes = heap() - before
	runtime.KeepAlive(kv)
	kv.Close()

	adm, err := newAdmin(addr)
	if err != nil {
		return err
	}
	defer adm.Close()
	sizes := []int32{1, p.tasks}
	for _, n := range sizes {
		app := fmt.Sprintf("sbmem%d", n)
		if _, err := adm.CreateTopic(ctx, n, 1, nil, app+"-in"); err != nil {
			return err
		}
		if _, err := adm.CreateTopic(ctx, n, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, app+"-counts-changelog"); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	heaps := []int64{heap()}
	for _, n := range sizes {
		app := fmt.Sprintf("sbmem%d", n)
		b := stream.NewBuilder()
		stream.GroupByKey(stream.From(b, app+"-in", serde.String, serde.Bytes)).Count(stream.Named("counts"))
		topo, err := b.Build()
		if err != nil {
			return err
		}
		a, err := stream.New(topo, stream.Brokers(addr), stream.AppID(app), stream.Logger(logger))
		if err != nil {
			return err
		}
		errc := make(chan error, 1)
		go func() { errc <- a.Run(ctx) }()
		deadline := time.Now().Add(time.Minute)
		for len(a.Tasks()) < int(n) {
			select {
			case err := <-errc:
				return fmt.Errorf("app %s stopped: %v", app, err)
			case <-time.After(50 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("app %s: %d of %d tasks after a minute", app, len(a.Tasks()), n)
			}
		}
		time.Sleep(time.Second) // let the first fetches settle
		heaps = append(heaps, heap())
	}
	r.appBytes = heaps[1] - heaps[0]
	r.taskBytes = ((heaps[2] - heaps[1]) - r.appBytes) / int64(p.tasks-1)
	r.tasks = p.tasks
	return nil
}
