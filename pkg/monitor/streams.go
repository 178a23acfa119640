package monitor

import (
	"bytes"
	"context"
	"time"
)

// StreamsPath is the /jsz query that lists every stream and consumer the
// server holds a replica of, with their configs (replicas, metadata) and
// Raft cluster info. nats-server 2.9 and 2.15 both answer it the same
// way; 2.9's stream configs have no metadata (no JetStream API level:
// 2.9 has none).
const StreamsPath = "/jsz?accounts=true&streams=true&consumers=true&config=true"

// streamsLimit bounds the body of StreamsPath: a server with many
// streams and consumers answers far more than the other endpoints.
const streamsLimit = 64 << 20

// JSDetail is /jsz with every account's streams and consumers: what the
// server holds, as it sees it. Only the Raft group leader's view of a
// group's replicas is meaningful (a follower reports its fellow
// followers as not current, never seen); the caller reads the leader.
type JSDetail struct {
	ServerID string    `json:"server_id"`
	Now      time.Time `json:"now"`
	Disabled bool      `json:"disabled,omitempty"`
	// API is the JetStream API the server speaks (2.11 and later: its
	// level; 0 before, where the field is absent).
	API struct {
		Level int `json:"level"`
	} `json:"api"`
	Meta     *MetaCluster    `json:"meta_cluster,omitempty"`
	Accounts []AccountDetail `json:"account_details,omitempty"`
}

// AccountDetail is one account's streams on the server.
type AccountDetail struct {
	Name    string         `json:"name"`
	ID      string         `json:"id"`
	Streams []StreamDetail `json:"stream_detail,omitempty"`
}

// StreamDetail is one stream replica on the server.
type StreamDetail struct {
	Name      string           `json:"name"`
	Cluster   *ClusterInfo     `json:"cluster,omitempty"`
	Config    *StreamConfig    `json:"config,omitempty"`
	Consumers []ConsumerDetail `json:"consumer_detail,omitempty"`
}

// ConsumerDetail is one consumer replica on the server.
type ConsumerDetail struct {
	Name    string          `json:"name"`
	Cluster *ClusterInfo    `json:"cluster,omitempty"`
	Config  *ConsumerConfig `json:"config,omitempty"`
}

// ClusterInfo is a Raft group (a stream's or a consumer's) as the server
// sees it: its leader and the other replicas. An R1 asset has no
// replicas, and its leader is the server that holds it.
type ClusterInfo struct {
	Name     string     `json:"name,omitempty"`
	Leader   string     `json:"leader,omitempty"`
	Replicas []PeerInfo `json:"replicas,omitempty"`
}

// PeerInfo is one replica of a Raft group as the reporting server sees
// it (only the group leader's view is current).
type PeerInfo struct {
	Name    string        `json:"name"`
	Current bool          `json:"current"`
	Offline bool          `json:"offline,omitempty"`
	Active  time.Duration `json:"active"`
	Lag     uint64        `json:"lag,omitempty"`
}

// StreamConfig is the part of a stream's config natsops judges: its
// replicas, and what the JetStream API level it needs is read from (the
// server's _nats.req.level metadata, 2.11 and later, and the features
// that raise it).
type StreamConfig struct {
	Replicas               int               `json:"num_replicas"`
	Metadata               map[string]string `json:"metadata,omitempty"`
	AllowMsgTTL            bool              `json:"allow_msg_ttl,omitempty"`
	SubjectDeleteMarkerTTL time.Duration     `json:"subject_delete_marker_ttl,omitempty"`
	AllowMsgCounter        bool              `json:"allow_msg_counter,omitempty"`
	AllowAtomicPublish     bool              `json:"allow_atomic,omitempty"`
	AllowMsgSchedules      bool              `json:"allow_msg_schedules,omitempty"`
	AllowBatchPublish      bool              `json:"allow_batched,omitempty"`
	// PersistMode is kept raw: "async" (2.12) raises the level, and a
	// later server's other spelling must not fail the whole reading.
	PersistMode rawJSON `json:"persist_mode,omitempty"`
}

// AsyncPersist reports persist_mode "async".
func (c *StreamConfig) AsyncPersist() bool {
	return bytes.Equal(bytes.TrimSpace(c.PersistMode), []byte(`"async"`))
}

// ConsumerConfig is the part of a consumer's config natsops judges.
type ConsumerConfig struct {
	// Replicas is 0 when the consumer has its stream's.
	Replicas int               `json:"num_replicas"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// rawJSON keeps a field's JSON as it came, whatever its type.
type rawJSON []byte

// UnmarshalJSON implements json.Unmarshaler.
func (r *rawJSON) UnmarshalJSON(b []byte) error {
	*r = append((*r)[:0], b...)
	return nil
}

// Streams reads StreamsPath: every stream and consumer the server holds.
func (c *Client) Streams(ctx context.Context, base string) (*JSDetail, error) {
	j := &JSDetail{}
	if err := okOnly(c.getLimit(ctx, base, StreamsPath, j, streamsLimit)); err != nil {
		return nil, err
	}
	return j, nil
}
