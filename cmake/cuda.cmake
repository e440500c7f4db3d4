# Detects the CUDA backend: nvcc, the CUDA toolkit (cudart, cuBLAS) and cuDNN. Sets CBNN_WITH_CUDA
# and, when found, the imported target cbnn::cudnn (CMake ships no FindCUDNN).
set(CBNN_WITH_CUDA OFF)
if(NOT CBNN_ENABLE_CUDA)
    message(STATUS "cbnn: CUDA backend disabled (CBNN_ENABLE_CUDA=OFF)")
    return()
endif()

include(CheckLanguage)
check_language(CUDA)
if(NOT CMAKE_CUDA_COMPILER)
    message(STATUS "cbnn: nvcc not found, building the CPU backend only")
    return()
endif()

find_package(CUDAToolkit)
if(NOT CUDAToolkit_FOUND OR NOT TARGET CUDA::cublas)
    message(STATUS "cbnn: CUDA toolkit or cuBLAS not found, building the CPU backend only")
    return()
endif()

find_path(CBNN_CUDNN_INCLUDE_DIR cudnn.h
          HINTS ${CUDNN_ROOT} ${CUDAToolkit_INCLUDE_DIRS} ENV CUDNN_INCLUDE_DIR
          PATH_SUFFIXES include)
find_library(CBNN_CUDNN_LIBRARY cudnn
             HINTS ${CUDNN_ROOT} ${CUDAToolkit_LIBRARY_DIR} ENV CUDNN_LIBRARY_DIR
             PATH_SUFFIXES lib lib64)
if(NOT CBNN_CUDNN_INCLUDE_DIR OR NOT CBNN_CUDNN_LIBRARY)
    message(STATUS "cbnn: cuDNN not found, building the CPU backend only")
    return()
endif()

enable_language(CUDA)
# CMake 3.25 does not know nvcc's C++20 flag (newer CMake does); nvcc >= 12 accepts it.
if(NOT DEFINED CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
    set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
    set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
endif()
set(CMAKE_CUDA_STANDARD 20)
set(CMAKE_CUDA_STANDARD_REQUIRED ON)
# Link the shared runtime (libcudart), never the driver library: a binary linked to libcuda
# cannot even start on a machine without a GPU driver.
set(CMAKE_CUDA_RUNTIME_LIBRARY Shared)

add_library(cbnn::cudnn UNKNOWN IMPORTED)
set_target_properties(cbnn::cudnn PROPERTIES
    IMPORTED_LOCATION ${CBNN_CUDNN_LIBRARY}
    INTERFACE_INCLUDE_DIRECTORIES ${CBNN_CUDNN_INCLUDE_DIR})
set(CBNN_WITH_CUDA ON)
