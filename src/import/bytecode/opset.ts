/**
 * @fileoverview The VHLO opset this reader knows: each op version's attribute names (their order
 * in properties), the ops without attributes, and which attributes today's StableHLO ops take as
 * `array<i64: ...>` / `array<i1: ...>`. From StableHLO's VHLO op definitions and the `// CHECK`
 * lines of ../shared/bytecode; vhlo.ts applies them.
 */
/**
 * Attribute names of each VHLO op that has any: properties hold them in the alphabetical order
 * of these names (format >= 5), older artifacts name them in the op's attribute dictionary.
 */
const NAMED_ATTRS: Readonly<Record<string, readonly string[]>> = {
  all_gather_v1: ['all_gather_dim', 'channel_id', 'replica_groups', 'use_global_device_ids'],
  all_gather_v2: ['all_gather_dim', 'channel_id', 'replica_groups', 'use_global_device_ids'],
  all_reduce_v1: ['channel_id', 'replica_groups', 'use_global_device_ids'],
  all_reduce_v2: ['channel_id', 'replica_groups', 'use_global_device_ids'],
  all_to_all_v1: ['channel_id', 'concat_dimension', 'replica_groups', 'split_count', 'split_dimension'],
  all_to_all_v2: ['channel_id', 'concat_dimension', 'replica_groups', 'split_count', 'split_dimension'],
  batch_norm_grad_v1: ['epsilon', 'feature_index'],
  batch_norm_inference_v1: ['epsilon', 'feature_index'],
  batch_norm_training_v1: ['epsilon', 'feature_index'],
  broadcast_in_dim_v1: ['broadcast_dimensions'],
  broadcast_v1: ['broadcast_sizes'],
  call_v1: ['callee'],
  cholesky_v1: ['lower'],
  'cross-replica-sum_v1': ['replica_groups'],
  collective_broadcast_v1: ['channel_id', 'replica_groups'],
  collective_broadcast_v2: ['channel_id', 'has_dynamic_root', 'replica_groups'],
  collective_permute_v1: ['channel_id', 'source_target_pairs'],
  collective_reduce_v1: ['channel_id', 'has_dynamic_root', 'replica_groups', 'use_global_device_ids'],
  compare_v1: ['compare_type', 'comparison_direction'],
  composite_v1: ['composite_attributes', 'decomposition', 'name', 'version'],
  composite_v2: ['composite_attributes', 'decomposition', 'name', 'version'],
  concatenate_v1: ['dimension'],
  constant_v1: ['value'],
  convolution_v1: [
    'batch_group_count',
    'feature_group_count',
    'input_batch_dimension',
    'input_feature_dimension',
    'input_spatial_dimensions',
    'kernel_input_feature_dimension',
    'kernel_output_feature_dimension',
    'kernel_spatial_dimensions',
    'lhs_dilation',
    'output_batch_dimension',
    'output_feature_dimension',
    'output_spatial_dimensions',
    'padding',
    'precision_config',
    'rhs_dilation',
    'window_reversal',
    'window_strides',
  ],
  custom_call_v1: [
    'api_version',
    'backend_config',
    'call_target_name',
    'called_computations',
    'has_side_effect',
    'operand_layouts',
    'output_operand_aliases',
    'result_layouts',
  ],
  dot_general_v1: [
    'lhs_batching_dimensions',
    'lhs_contracting_dimensions',
    'precision_config',
    'rhs_batching_dimensions',
    'rhs_contracting_dimensions',
  ],
  dot_general_v2: [
    'accumulation_type',
    'allow_imprecise_accumulation',
    'lhs_batching_dimensions',
    'lhs_component_count',
    'lhs_contracting_dimensions',
    'lhs_precision_type',
    'num_primitive_operations',
    'precision_config',
    'rhs_batching_dimensions',
    'rhs_component_count',
    'rhs_contracting_dimensions',
    'rhs_precision_type',
  ],
  dot_v1: ['precision_config'],
  dynamic_broadcast_in_dim_v1: ['broadcast_dimensions', 'known_expanding_dimensions', 'known_nonexpanding_dimensions'],
  dynamic_gather_v1: [
    'collapsed_slice_dims',
    'index_vector_dim',
    'indices_are_sorted',
    'offset_dims',
    'start_index_map',
  ],
  dynamic_gather_v2: [
    'collapsed_slice_dims',
    'index_vector_dim',
    'indices_are_sorted',
    'offset_dims',
    'operand_batching_dims',
    'start_index_map',
    'start_indices_batching_dims',
  ],
  dynamic_iota_v1: ['iota_dimension'],
  dynamic_slice_v1: ['slice_sizes'],
  einsum_v1: ['einsum_config'],
  fft_v1: ['fft_length', 'fft_type'],
  func_v1: ['arg_attrs', 'function_type', 'res_attrs', 'sym_name', 'sym_visibility'],
  gather_v1: [
    'collapsed_slice_dims',
    'index_vector_dim',
    'indices_are_sorted',
    'offset_dims',
    'slice_sizes',
    'start_index_map',
  ],
  gather_v2: [
    'collapsed_slice_dims',
    'index_vector_dim',
    'indices_are_sorted',
    'offset_dims',
    'operand_batching_dims',
    'slice_sizes',
    'start_index_map',
    'start_indices_batching_dims',
  ],
  get_dimension_size_v1: ['dimension'],
  get_tuple_element_v1: ['index'],
  infeed_v1: ['infeed_config', 'layout'],
  iota_v1: ['iota_dimension'],
  map_v1: ['dimensions'],
  outfeed_v1: ['outfeed_config'],
  pad_v1: ['edge_padding_high', 'edge_padding_low', 'interior_padding'],
  recv_v1: ['channel_id', 'channel_type', 'is_host_transfer'],
  recv_v2: ['channel_id', 'channel_type', 'is_host_transfer', 'source_target_pairs'],
  reduce_precision_v1: ['exponent_bits', 'mantissa_bits'],
  reduce_scatter_v1: ['channel_id', 'replica_groups', 'scatter_dimension', 'use_global_device_ids'],
  reduce_v1: ['dimensions'],
  reduce_window_v1: ['base_dilations', 'padding', 'window_dilations', 'window_dimensions', 'window_strides'],
  reverse_v1: ['dimensions'],
  rng_bit_generator_v1: ['rng_algorithm'],
  rng_v1: ['rng_distribution'],
  scatter_v1: [
    'index_vector_dim',
    'indices_are_sorted',
    'inserted_window_dims',
    'scatter_dims_to_operand_dims',
    'unique_indices',
    'update_window_dims',
  ],
  scatter_v2: [
    'index_vector_dim',
    'indices_are_sorted',
    'input_batching_dims',
    'inserted_window_dims',
    'scatter_dims_to_operand_dims',
    'scatter_indices_batching_dims',
    'unique_indices',
    'update_window_dims',
  ],
  select_and_scatter_v1: ['padding', 'window_dimensions', 'window_strides'],
  send_v1: ['channel_id', 'channel_type', 'is_host_transfer'],
  send_v2: ['channel_id', 'channel_type', 'is_host_transfer', 'source_target_pairs'],
  set_dimension_size_v1: ['dimension'],
  slice_v1: ['limit_indices', 'start_indices', 'strides'],
  sort_v1: ['dimension', 'is_stable'],
  torch_index_select_v1: ['batch_dims', 'dim'],
  transpose_v1: ['permutation'],
  triangular_solve_v1: ['left_side', 'lower', 'transpose_a', 'unit_diagonal'],
  unary_einsum_v1: ['einsum_config'],
};
/** NAMED_ATTRS plus the ops whose names follow from others'. */
export const OP_ATTRS: Readonly<Record<string, readonly string[]>> = {
  ...NAMED_ATTRS,
  dynamic_conv_v1: NAMED_ATTRS['convolution_v1']!,
  dynamic_conv_v2: NAMED_ATTRS['convolution_v1']!.filter((n) => n !== 'padding'),
  custom_call_v2: [...NAMED_ATTRS['custom_call_v1']!, 'result_tilings'],
  // Unary ops that gained a result_accuracy in their second version.
  ...Object.fromEntries(
    ['cbrt', 'cosine', 'exponential', 'exponential_minus_one', 'log', 'log_plus_one', 'logistic']
      .concat(['rsqrt', 'sine', 'sqrt', 'tan', 'tanh'])
      .map((op) => [`${op}_v2`, ['result_accuracy']]),
  ),
};

/** VHLO ops without attributes (StableHLO op = name without `_vN`). */
export const PLAIN_OPS = new Set(
  (
    'abs add after_all and async_done async_start atan2 bitcast_convert case cbrt ceil clamp complex ' +
    'concatenate convert cosine count_leading_zeros create_token divide dynamic_pad dynamic_reshape ' +
    'dynamic_update_slice exponential exponential_minus_one floor if imag is_finite log log_plus_one ' +
    'logistic maximum minimum multiply negate not optimization_barrier or partition_id popcnt power ' +
    'real real_dynamic_slice real remainder replica_id reshape return round_nearest_afz ' +
    'round_nearest_even rsqrt select shift_left shift_right_arithmetic shift_right_logical sign sine ' +
    'sqrt subtract tan tanh tuple uniform_dequantize uniform_quantize while xor'
  )
    .split(/\s+/)
    .map((n) => `${n}_v1`),
);

/** Attributes that today's ops take as `array<i64: ...>` / `array<i1: ...>`, per op (no version). */
export const I64_ARRAYS: Readonly<Record<string, readonly string[]>> = {
  fft: ['fft_length'],
  broadcast: ['broadcast_sizes'],
  dynamic_slice: ['slice_sizes'],
  reverse: ['dimensions'],
  transpose: ['permutation'],
  pad: ['edge_padding_low', 'edge_padding_high', 'interior_padding'],
  slice: ['start_indices', 'limit_indices', 'strides'],
  broadcast_in_dim: ['broadcast_dimensions'],
  dynamic_broadcast_in_dim: ['broadcast_dimensions', 'known_expanding_dimensions', 'known_nonexpanding_dimensions'],
  select_and_scatter: ['window_dimensions', 'window_strides'],
  reduce_window: ['window_dimensions', 'window_strides', 'base_dilations', 'window_dilations'],
  map: ['dimensions'],
  reduce: ['dimensions'],
  gather: ['slice_sizes'],
  convolution: ['lhs_dilation', 'rhs_dilation', 'window_strides'],
  dynamic_conv: ['lhs_dilation', 'rhs_dilation', 'window_strides'],
};
export const BOOL_ARRAYS: Readonly<Record<string, readonly string[]>> = {
  convolution: ['window_reversal'],
  dynamic_conv: ['window_reversal'],
};

/** The newest VHLO opset this reader knows (artifacts name theirs in the producer string). */
export const NEWEST_VHLO: readonly [number, number, number] = [1, 20, 0];
