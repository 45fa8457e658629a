package loadtester

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/siskin-dev/siskin/loadtester/cmdline"
	"github.com/siskin-dev/siskin/loadtester/task"
)

// Task types, the values of the "type" metadata key.
const (
	typeCmd        = "cmd"
	typeLoad       = "load"
	typeGRPCHealth = "grpc-health"
	typeBash       = "bash"
	typeKubectl    = "kubectl"
	typeHelm       = "helm"
	typeHelmV3     = "helmv3"
)

// Webhook types and phases after which a canary's background tasks stop.
const (
	hookPostRollout = "post-rollout"
	hookRollback    = "rollback"
)

var endPhases = map[string]bool{"Succeeded": true, "Failed": true, "Terminating": true, "Terminated": true}

// runTask is the / endpoint: it picks the task by metadata type.
func (s *Server) runTask(ctx context.Context, w http.ResponseWriter, p *Payload) {
	log := s.log.WithValues("canary", p.canary(), "revision", p.Checksum, "phase", p.Phase, "task", p.Metadata["type"])
	if p.Type == hookPostRollout || p.Type == hookRollback || endPhases[p.Phase] {
		if n := s.bg.stop(p.canary()); n > 0 {
			log.Info("background tasks stopped", "reason", "hook "+p.Type+" in phase "+p.Phase, "count", n)
		}
	}
	switch typ := p.Metadata["type"]; typ {
	case "", typeCmd:
		s.cmdTask(ctx, w, p)
	case typeLoad:
		spec, probe, err := loadSpec(p.Metadata)
		if err != nil {
			reply(w, http.StatusBadRequest, err.Error())
			return
		}
		s.loadTask(ctx, w, p, spec, probe)
	case typeGRPCHealth:
		spec, err := grpcHealthSpec(p.Metadata)
		if err != nil {
			reply(w, http.StatusBadRequest, err.Error())
			return
		}
		s.loadTask(ctx, w, p, spec, true)
	case typeBash:
		s.execTask(ctx, w, p, task.Bash, true)
	case typeKubectl:
		s.execTask(ctx, w, p, task.Kubectl, true)
	case typeHelm, typeHelmV3:
		s.execTask(ctx, w, p, task.Helm, true)
	case "concord", "ngrinder":
		reply(w, http.StatusBadRequest, fmt.Sprintf("task type %q is not supported by the Siskin load tester", typ))
	default:
		reply(w, http.StatusBadRequest, fmt.Sprintf(
			"unknown task type %q; supported: cmd, load, grpc-health, bash, kubectl, helm", typ))
	}
}

// cmdTask runs metadata.cmd: hey, ghz and grpc_health_probe lines go to the built-in
// generator, anything else is a shell command under the exec policy.
func (s *Server) cmdTask(ctx context.Context, w http.ResponseWriter, p *Payload) {
	line := p.Metadata["cmd"]
	if line == "" {
		reply(w, http.StatusBadRequest, "metadata.cmd is required for cmd tasks")
		return
	}
	c, err := cmdline.Parse(line)
	switch {
	case errors.Is(err, cmdline.ErrNotLoad):
		blocking, err := parseBool(p.Metadata, "blocking")
		if err != nil {
			reply(w, http.StatusBadRequest, err.Error())
			return
		}
		s.execTask(ctx, w, p, task.Shell, blocking != nil && *blocking)
	case err != nil:
		reply(w, http.StatusBadRequest, err.Error())
	default:
		s.loadTask(ctx, w, p, c.Spec, c.Probe)
	}
}

// execTask runs a command task, in the background (answering 202) unless blocking.
func (s *Server) execTask(ctx context.Context, w http.ResponseWriter, p *Payload, kind task.Kind, blocking bool) {
	log := s.log.WithValues("canary", p.canary(), "revision", p.Checksum, "task", string(kind))
	cmd, err := s.opts.Exec.Prepare(kind, p.Metadata["cmd"])
	if err == nil {
		err = cmd.CheckNamespace(p.Namespace)
	}
	if err != nil {
		log.Info("command refused", "reason", err.Error())
		reply(w, http.StatusForbidden, err.Error())
		return
	}
	if !blocking {
		res, err := s.bg.start(p.canary(), p.Checksum, taskID(p), 0, func(ctx context.Context) {
			out, err := cmd.Run(ctx)
			if err != nil {
				log.Error(err, "background command failed", "output", out.Text)
				return
			}
			log.Info("background command finished")
		})
		s.replyStarted(w, res, err)
		return
	}
	if err := s.bg.acquire(0); err != nil {
		reply(w, http.StatusTooManyRequests, err.Error())
		return
	}
	defer s.bg.release(0)
	out, err := cmd.Run(ctx)
	text := out.Text
	if out.Truncated {
		text += "\n[output truncated]"
	}
	if err != nil {
		log.Info("command failed", "reason", err.Error())
		reply(w, http.StatusInternalServerError, err.Error()+"\n"+text)
		return
	}
	if ret, _ := parseBool(p.Metadata, "returnCmdOutput"); ret != nil && *ret {
		reply(w, http.StatusOK, text)
		return
	}
	reply(w, http.StatusOK, "command succeeded")
}

func (s *Server) replyStarted(w http.ResponseWriter, res startResult, err error) {
	switch {
	case errors.Is(err, errClosed):
		reply(w, http.StatusServiceUnavailable, err.Error())
	case err != nil:
		reply(w, http.StatusTooManyRequests, err.Error())
	default:
		replyJSON(w, http.StatusAccepted, res)
	}
}

// taskID identifies a task within a revision: the same metadata is the same task.
func taskID(p *Payload) string {
	b, _ := json.Marshal(p.Metadata) // map keys are sorted, so this is canonical
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// parseBool reads an optional boolean metadata value.
func parseBool(md map[string]string, key string) (*bool, error) {
	v, ok := md[key]
	if !ok || v == "" {
		return nil, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return nil, fmt.Errorf("metadata.%s: %q is not true or false", key, v)
	}
	return &b, nil
}
