package cluster

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"sync"

	rlog "github.com/runnel-io/runnel/log"
	"github.com/runnel-io/runnel/log/vfs"
)

const (
	metaDir    = "meta"
	topicsFile = "topics.json"
	// maxTopicNameLen is Kafka's limit: a partition directory name
	// ("<topic>-<partition>") must fit in 255 bytes.
	maxTopicNameLen = 249
	// maxPartitions bounds one topic's partition count.
	maxPartitions = 10000
)

var (
	errTopicExists   = errors.New("cluster: topic already exists")
	errUnknownTopic  = errors.New("cluster: unknown topic")
	errInvalidTopic  = errors.New("cluster: invalid topic name")
	errBadPartitions = errors.New("cluster: invalid partition count")
)

var legalTopicName = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)

// validTopicName applies Kafka's topic name rules.
func validTopicName(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return fmt.Errorf("%w: %q", errInvalidTopic, name)
	case len(name) > maxTopicNameLen:
		return fmt.Errorf("%w: %d characters, the limit is %d", errInvalidTopic, len(name), maxTopicNameLen)
	case !legalTopicName.MatchString(name):
		return fmt.Errorf("%w: %q may only hold ASCII letters, digits, '.', '_' and '-'", errInvalidTopic, name)
	}
	return nil
}

// topic is one topic: its id, its own configs (those set explicitly) and
// its partitions. The partitions slice only grows (CreatePartitions) and
// is replaced, not modified, under the store's lock.
type topic struct {
	name       string
	id         [16]byte
	configs    map[string]string
	settings   topicSettings
	partitions []*partition
}

// topicStore holds every topic. Its lock guards the maps and each topic's
// configs and partition slice; partitions have their own locks.
type topicStore struct {
	dir    string
	cfg    *Config
	logger *slog.Logger
	mu     struct {
		sync.RWMutex
		byName map[string]*topic
		byID   map[[16]byte]*topic
	}
}

// topicRecord is a topic as persisted in meta/topics.json.
type topicRecord struct {
	Name       string            `json:"name"`
	ID         string            `json:"id"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
}

func openTopicStore(dir string, cfg *Config, logger *slog.Logger) (*topicStore, error) {
	s := &topicStore{dir: dir, cfg: cfg, logger: logger}
	s.mu.byName = map[string]*topic{}
	s.mu.byID = map[[16]byte]*topic{}
	if err := os.MkdirAll(filepath.Join(dir, metaDir), 0o755); err != nil {
		return nil, fmt.Errorf("cluster: create %s: %w", dir, err)
	}
	data, err := os.ReadFile(filepath.Join(dir, metaDir, topicsFile))
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: read topics: %w", err)
	}
	var recs []topicRecord
	if err := json.Unmarshal(data, &recs); err != nil {
		return nil, fmt.Errorf("cluster: parse %s: %w", topicsFile, err)
	}
	for _, r := range recs {
		t, err := s.loadTopic(r)
		if err != nil {
			s.close()
			return nil, err
		}
		s.mu.byName[t.name] = t
		s.mu.byID[t.id] = t
	}
	return s, nil
}

func (s *topicStore) loadTopic(r topicRecord) (*topic, error) {
	id, err := hex.DecodeString(r.ID)
	if err != nil || len(id) != 16 {
		return nil, fmt.Errorf("cluster: topic %s: bad id %q", r.Name, r.ID)
	}
	settings, err := settingsFor(s.cfg, r.Configs)
	if err != nil {
		return nil, fmt.Errorf("cluster: topic %s: %w", r.Name, err)
	}
	t := &topic{name: r.Name, configs: r.Configs, settings: settings}
	copy(t.id[:], id)
	if t.configs == nil {
		t.configs = map[string]string{}
	}
	for i := int32(0); i < r.Partitions; i++ {
		p, err := s.openPartition(t, i)
		if err != nil {
			closePartitions(t.partitions)
			return nil, err
		}
		t.partitions = append(t.partitions, p)
	}
	return t, nil
}

func (s *topicStore) partitionDir(topic string, p int32) string {
	return filepath.Join(s.dir, topic+"-"+strconv.Itoa(int(p)))
}

func (s *topicStore) openPartition(t *topic, i int32) (*partition, error) {
	l, err := rlog.Open(s.partitionDir(t.name, i), rlog.WithConfig(t.settings.log),
		rlog.WithLogger(s.logger.With("topic", t.name, "partition", i)))
	if err != nil {
		return nil, fmt.Errorf("cluster: open %s-%d: %w", t.name, i, err)
	}
	p, err := newPartition(t.name, i, l, t.settings, s.cfg.NodeID)
	if err != nil {
		l.Close()
		return nil, err
	}
	return p, nil
}

func closePartitions(ps []*partition) error {
	var first error
	for _, p := range ps {
		if err := p.close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// persistLocked writes every topic to meta/topics.json atomically.
func (s *topicStore) persistLocked() error {
	recs := make([]topicRecord, 0, len(s.mu.byName))
	for _, t := range s.mu.byName {
		recs = append(recs, topicRecord{Name: t.name, ID: hex.EncodeToString(t.id[:]),
			Partitions: int32(len(t.partitions)), Configs: t.configs})
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Name < recs[j].Name })
	data, err := json.MarshalIndent(recs, "", "  ")
	if err != nil {
		return err
	}
	return vfs.WriteFileAtomic(vfs.Default, filepath.Join(s.dir, metaDir, topicsFile), data)
}

func (s *topicStore) count() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.mu.byName)
}

// get returns a topic by name.
func (s *topicStore) get(name string) (*topic, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, ok := s.mu.byName[name]
	return t, ok
}

// getByID returns a topic by id.
func (s *topicStore) getByID(id [16]byte) (*topic, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, ok := s.mu.byID[id]
	return t, ok
}

// partition returns one partition of a topic.
func (s *topicStore) partition(name string, p int32) (*partition, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, ok := s.mu.byName[name]
	if !ok || p < 0 || int(p) >= len(t.partitions) {
		return nil, false
	}
	return t.partitions[p], true
}

// all returns the topics sorted by name.
func (s *topicStore) all() []*topic {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*topic, 0, len(s.mu.byName))
	for _, t := range s.mu.byName {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// topicView is a consistent copy of a topic's metadata for a handler.
type topicView struct {
	name       string
	id         [16]byte
	configs    map[string]string
	partitions []*partition
}

func (s *topicStore) view(t *topic) topicView {
	s.mu.RLock()
	defer s.mu.RUnlock()
	cfgs := make(map[string]string, len(t.configs))
	for k, v := range t.configs {
		cfgs[k] = v
	}
	return topicView{name: t.name, id: t.id, configs: cfgs, partitions: t.partitions}
}

// create makes a topic with n partitions and the given configs (already
// checked). validateOnly checks everything and creates nothing.
func (s *topicStore) create(name string, n int32, cfgs map[string]string, validateOnly bool) (*topic, error) {
	if err := validTopicName(name); err != nil {
		return nil, err
	}
	if n < 1 || n > maxPartitions {
		return nil, fmt.Errorf("%w: %d", errBadPartitions, n)
	}
	if err := checkTopicConfigs(cfgs); err != nil {
		return nil, err
	}
	settings, err := settingsFor(s.cfg, cfgs)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.mu.byName[name]; ok {
		return nil, fmt.Errorf("%w: %s", errTopicExists, name)
	}
	if validateOnly {
		return nil, nil
	}
	if cfgs == nil {
		cfgs = map[string]string{}
	}
	t := &topic{name: name, configs: cfgs, settings: settings}
	if _, err := rand.Read(t.id[:]); err != nil {
		return nil, err
	}
	for i := int32(0); i < n; i++ {
		p, err := s.openPartition(t, i)
		if err != nil {
			closePartitions(t.partitions)
			s.removePartitionDirs(name, 0, i)
			return nil, err
		}
		t.partitions = append(t.partitions, p)
	}
	s.mu.byName[name] = t
	s.mu.byID[t.id] = t
	if err := s.persistLocked(); err != nil {
		delete(s.mu.byName, name)
		delete(s.mu.byID, t.id)
		closePartitions(t.partitions)
		s.removePartitionDirs(name, 0, n)
		return nil, fmt.Errorf("cluster: persist topics: %w", err)
	}
	s.logger.Info("topic created", "topic", name, "partitions", n, "configs", cfgs)
	return t, nil
}

func (s *topicStore) removePartitionDirs(name string, from, to int32) {
	for i := from; i < to; i++ {
		os.RemoveAll(s.partitionDir(name, i))
	}
}

// delete removes a topic and its data.
func (s *topicStore) delete(name string) error {
	s.mu.Lock()
	t, ok := s.mu.byName[name]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("%w: %s", errUnknownTopic, name)
	}
	delete(s.mu.byName, name)
	delete(s.mu.byID, t.id)
	err := s.persistLocked()
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("cluster: persist topics: %w", err)
	}
	for _, p := range t.partitions {
		p.markDeleted()
	}
	closePartitions(t.partitions)
	s.removePartitionDirs(name, 0, int32(len(t.partitions)))
	s.logger.Info("topic deleted", "topic", name)
	return nil
}

// addPartitions grows a topic to n partitions.
func (s *topicStore) addPartitions(name string, n int32, validateOnly bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.mu.byName[name]
	if !ok {
		return fmt.Errorf("%w: %s", errUnknownTopic, name)
	}
	have := int32(len(t.partitions))
	if n <= have || n > maxPartitions {
		return fmt.Errorf("%w: topic has %d partitions, asked for %d", errBadPartitions, have, n)
	}
	if validateOnly {
		return nil
	}
	ps := append([]*partition(nil), t.partitions...)
	for i := have; i < n; i++ {
		p, err := s.openPartition(t, i)
		if err != nil {
			closePartitions(ps[have:])
			s.removePartitionDirs(name, have, i)
			return err
		}
		ps = append(ps, p)
	}
	old := t.partitions
	t.partitions = ps
	if err := s.persistLocked(); err != nil {
		t.partitions = old
		closePartitions(ps[have:])
		s.removePartitionDirs(name, have, n)
		return fmt.Errorf("cluster: persist topics: %w", err)
	}
	s.logger.Info("partitions added", "topic", name, "from", have, "to", n)
	return nil
}

// setConfigs replaces a topic's configs with what edit makes of a copy of
// the current ones, then checks, persists and applies them. edit runs
// under the store's lock (it must not block or call the store), so
// concurrent changes of one topic never lose each other's updates.
// validateOnly checks everything and changes nothing.
func (s *topicStore) setConfigs(name string, edit func(cur map[string]string) (map[string]string, error), validateOnly bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.mu.byName[name]
	if !ok {
		return fmt.Errorf("%w: %s", errUnknownTopic, name)
	}
	cur := make(map[string]string, len(t.configs))
	for k, v := range t.configs {
		cur[k] = v
	}
	next, err := edit(cur)
	if err != nil {
		return err
	}
	if next == nil {
		next = map[string]string{}
	}
	if err := checkTopicConfigs(next); err != nil {
		return err
	}
	settings, err := settingsFor(s.cfg, next)
	if err != nil {
		return err
	}
	if validateOnly {
		return nil
	}
	old, oldSettings := t.configs, t.settings
	t.configs, t.settings = next, settings
	if err := s.persistLocked(); err != nil {
		t.configs, t.settings = old, oldSettings
		return fmt.Errorf("cluster: persist topics: %w", err)
	}
	for _, p := range t.partitions {
		if err := p.setSettings(settings); err != nil {
			return err
		}
	}
	s.logger.Info("topic configs changed", "topic", name, "configs", next)
	return nil
}

// maintain runs every partition's periodic log work.
func (s *topicStore) maintain() {
	for _, t := range s.all() {
		for _, p := range s.view(t).partitions {
			if err := p.log.Maintain(); err != nil && !errors.Is(err, rlog.ErrClosed) {
				s.logger.Error("log maintenance", "topic", t.name, "partition", p.index, "err", err)
			}
		}
	}
}

// close closes every partition cleanly.
func (s *topicStore) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var first error
	for _, t := range s.mu.byName {
		if err := closePartitions(t.partitions); err != nil && first == nil {
			first = err
		}
	}
	return first
}
