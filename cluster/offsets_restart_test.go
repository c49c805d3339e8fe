package cluster_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestOffsetCommitsSurviveSIGKILL: groups commit offsets through kadm
// while the broker process is SIGKILLed; after a restart on the same data
// directory every acknowledged commit is there (or a later one that was in
// flight), for every group and partition.
func TestOffsetCommitsSurviveSIGKILL(t *testing.T) {
	bin := buildRunnel(t)
	dir := t.TempDir()
	p := startProc(t, bin, dir, "127.0.0.1:0")
	ctx := restartCtx(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.addr), kgo.RetryTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 4, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}

	const groups = 4
	type key struct {
		group     string
		partition int32
	}
	var mu sync.Mutex
	acked, tried := map[key]int64{}, map[key]int64{}
	var wg sync.WaitGroup
	for g := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			group := fmt.Sprintf("g%d", g)
			for i := int64(1); ; i++ {
				var os kadm.Offsets
				for part := int32(0); part < 4; part++ {
					os.Add(kadm.Offset{Topic: "t", Partition: part, At: i * int64(part+1), LeaderEpoch: -1, Metadata: fmt.Sprint(i)})
				}
				mu.Lock()
				for part := int32(0); part < 4; part++ {
					tried[key{group, part}] = i * int64(part+1)
				}
				mu.Unlock()
				if err := adm.CommitAllOffsets(ctx, group, os); err != nil {
					return // the broker is gone
				}
				mu.Lock()
				for part := int32(0); part < 4; part++ {
					acked[key{group, part}] = i * int64(part+1)
				}
				mu.Unlock()
			}
		}()
	}
	time.Sleep(time.Second)
	p.kill(t)
	wg.Wait()
	cl.Close()

	p2 := startProc(t, bin, dir, "127.0.0.1:0")
	cl2, err := kgo.NewClient(kgo.SeedBrokers(p2.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl2.Close()
	adm2 := kadm.NewClient(cl2)
	total := 0
	for g := range groups {
		group := fmt.Sprintf("g%d", g)
		got, err := adm2.FetchOffsets(ctx, group)
		if err != nil {
			t.Fatal(err)
		}
		for part := int32(0); part < 4; part++ {
			k := key{group, part}
			o, _ := got.Lookup("t", part)
			if o.At < acked[k] || o.At > tried[k] || o.At%int64(part+1) != 0 {
				t.Fatalf("%s t/%d: committed %d after the crash; acknowledged %d, last tried %d", group, part, o.At, acked[k], tried[k])
			}
			if o.At > 0 && o.Metadata != fmt.Sprint(o.At/int64(part+1)) {
				t.Fatalf("%s t/%d: metadata %q for offset %d", group, part, o.Metadata, o.At)
			}
		}
		total += int(acked[key{group, 0}])
	}
	if total < groups {
		t.Fatalf("only %d commits acknowledged before the kill", total)
	}
	t.Logf("%d commit requests acknowledged before SIGKILL, all found after the restart", total)
}
