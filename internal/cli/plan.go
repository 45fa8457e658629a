package cli

import "github.com/spf13/cobra"

func newPlanCommand(o *Options) *cobra.Command {
	return &cobra.Command{Use: "plan", Hidden: true}
}
