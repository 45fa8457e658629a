package cli

import "github.com/spf13/cobra"

func newConvertCommand(o *Options) *cobra.Command {
	return &cobra.Command{Use: "convert", Hidden: true}
}
