package notify

import (
	"flag"
	"os"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Defaults of Options.
const (
	DefaultIntakeSize  = 1024
	DefaultQueueSize   = 128
	DefaultMaxAttempts = 5
	DefaultBackoff     = time.Second
	DefaultMaxBackoff  = 30 * time.Second
	DefaultTimeout     = 10 * time.Second
	// DefaultMaxRetryAfter caps how long a Retry-After answer can hold a provider's queue.
	DefaultMaxRetryAfter = 2 * time.Minute
	// DefaultResolveTimeout bounds the cache reads that resolve one message's providers.
	DefaultResolveTimeout = 10 * time.Second
)

// GlobalOptions configure the controller-wide senders, which receive every event of the
// Canaries that have no analysis.alerts. Each is off while its URL (and, for Slack, its token)
// is empty; both Slack and Microsoft Teams may be on at once.
type GlobalOptions struct {
	// SlackURL is a Slack incoming webhook URL or, with SlackToken, the Slack Web API
	// (default https://slack.com/api/).
	SlackURL string
	// SlackToken is a Slack bot token: messages go through chat.postMessage, one thread per
	// rollout.
	SlackToken string
	// SlackChannel is the channel to post to; required with SlackToken.
	SlackChannel string
	// SlackUser is the name shown as the sender.
	SlackUser string
	// SlackProxyURL is an HTTP(S) proxy for the Slack requests.
	SlackProxyURL string
	// MSTeamsURL is a Microsoft Teams incoming webhook (or Workflows) URL.
	MSTeamsURL string
	// ClusterName is added to every message, global or not, as a Cluster field.
	ClusterName string
}

// AddFlags registers the flags --slack-url, --slack-token, --slack-channel, --slack-user,
// --slack-proxy-url, --msteams-url and --cluster-name on fs. The secret ones default to the
// environment variables SISKIN_SLACK_URL, SISKIN_SLACK_TOKEN and SISKIN_MSTEAMS_URL, so that a
// Secret can provide them without putting them on the command line.
func (g *GlobalOptions) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&g.SlackURL, "slack-url", os.Getenv("SISKIN_SLACK_URL"), "Slack incoming webhook URL that receives the events of Canaries without alerts; with --slack-token, the Slack Web API URL (default https://slack.com/api/).")
	fs.StringVar(&g.SlackToken, "slack-token", os.Getenv("SISKIN_SLACK_TOKEN"), "Slack bot token: post with chat.postMessage, one thread per rollout.")
	fs.StringVar(&g.SlackChannel, "slack-channel", "", "Slack channel of the global notifications.")
	fs.StringVar(&g.SlackUser, "slack-user", "siskin", "Sender name of the global Slack notifications.")
	fs.StringVar(&g.SlackProxyURL, "slack-proxy-url", "", "HTTP(S) proxy for the global Slack notifications.")
	fs.StringVar(&g.MSTeamsURL, "msteams-url", os.Getenv("SISKIN_MSTEAMS_URL"), "Microsoft Teams webhook URL that receives the events of Canaries without alerts.")
	fs.StringVar(&g.ClusterName, "cluster-name", "", "Cluster name added to every notification.")
}

// Options configure a Dispatcher.
type Options struct {
	// Reader reads AlertProviders and Secrets; normally the manager's cache.
	Reader client.Reader
	// Global configures the senders of Canaries without alerts, and the cluster name.
	Global GlobalOptions

	// OnFailure is called once for every message about the Canary namespace/name that was not
	// delivered: given up after MaxAttempts, refused (4xx), dropped from a full queue, or whose
	// provider could not be resolved. providerType is the AlertProvider's type, or "unknown".
	// It is called from the delivery goroutines and must not block.
	OnFailure func(namespace, name, providerType string)
	// OnHealthChange is called when an AlertProvider's Health changes between delivering and
	// failing, or its error changes; use it to requeue the AlertProvider. It must not block.
	OnHealthChange func(provider types.NamespacedName)
	// Logger logs dropped and undelivered messages; the zero Logger means ctrl.Log.
	Logger logr.Logger
	// Events records, on the Canary, the alerts that are refused (a cross-namespace
	// providerRef); nil records none, and the refusal is only logged and counted.
	Events EventRecorder

	// AllowCrossNamespaceRefs lets a Canary's alert name an AlertProvider in another namespace
	// (--allow-cross-namespace-refs). Off, such an alert is refused: the provider's Secret is
	// not read and nothing is sent, since a Canary author must not post with another
	// namespace's credentials. The global senders are not references and serve every Canary.
	AllowCrossNamespaceRefs bool

	// IntakeSize bounds the messages waiting to be resolved to providers.
	IntakeSize int
	// QueueSize bounds the messages waiting for one provider.
	QueueSize int
	// MaxAttempts is how many times a message is sent before it is given up.
	MaxAttempts int
	// Backoff is the wait before the first retry; it doubles with each retry, up to MaxBackoff.
	Backoff time.Duration
	// MaxBackoff caps the wait between retries.
	MaxBackoff time.Duration
	// MaxRetryAfter caps the wait that a 429 answer's Retry-After asks for.
	MaxRetryAfter time.Duration
	// Timeout bounds one HTTP request, connection and response included.
	Timeout time.Duration
	// SlackAPIURL is the Slack Web API base URL used with a bot token when the provider has
	// no address of its own; empty means https://slack.com/api/.
	SlackAPIURL string
}

// EventRecorder records Kubernetes events; the manager's events.EventRecorder is one.
type EventRecorder interface {
	Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any)
}

func (o *Options) defaults() {
	if o.IntakeSize <= 0 {
		o.IntakeSize = DefaultIntakeSize
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.Backoff <= 0 {
		o.Backoff = DefaultBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.MaxBackoff < o.Backoff {
		o.MaxBackoff = o.Backoff
	}
	if o.MaxRetryAfter <= 0 {
		o.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
}
